"""The load generator's HTTP/1.1 client: one keep-alive connection, a request built once, a
response read by its Content-Length.

Why not http.client, h11 or a library on top of them: the bench sends its requests from the
two cores the API runs on, so whatever the client spends per request is taken from the server
it measures. Measured here against the running API (8 threads, single submits, the rest of the
stack stopped): http.client spent 290-380 us of CPU per request and h11 about as much (most of
it parsing headers the bench never reads), this client 90-110 us, and the API answered 30 %
more requests per second with it (531-656 against 753-848). The bare-psycopg baseline the
single-submit figure is compared with has no such client of its own, so the heavier client
counted against the API. What the bench needs of a response is its status and its JSON body,
so that is all this reads; anything else (a chunked body, a closed connection) is an error the
caller counts as a failed request.
"""

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

HEADER_END = b"\r\n\r\n"
RECV_BYTES = 65536
# Far above any response of the API; a header block this long means the peer is not it.
MAX_HEADER_BYTES = 65536


class HttpError(Exception):
    """The response could not be read: the connection ended, or it is not what the API sends."""


def build_request(
    method: str, host: str, path: str, headers: Mapping[str, str], body: bytes
) -> bytes:
    """The whole request as bytes, sent as is on every call."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class Response:
    """A response's status and body."""

    status: int
    body: bytes


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the server closes the connection after this one."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    length: int | None = None
    closes = parts[0] == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            if not value.strip().isdigit():
                raise HttpError(f"bad Content-Length: {value.strip()[:40]!r}")
            length = int(value.strip())
        elif name == b"transfer-encoding":
            raise HttpError("chunked responses are not read by this client")
        elif name == b"connection":
            closes = value.strip().lower() == b"close"
    if length is None:
        raise HttpError("response without Content-Length")
    return int(parts[1]), length, closes


@dataclass
class Connection:
    """One keep-alive connection; `connect` opens the socket, again after the server closed it."""

    connect: Callable[[], socket.socket]
    _sock: socket.socket | None = None
    _buffer: bytes = field(default=b"", repr=False)

    def exchange(self, request: bytes) -> Response:
        """Send `request` and read its response. Any failure closes the connection, so what was
        left unread of a broken exchange can never be taken for the next response."""
        try:
            return self._exchange(request)
        except BaseException:
            self.close()
            raise

    def _exchange(self, request: bytes) -> Response:
        sock = self._sock
        if sock is None:
            sock = self._sock = self.connect()
            self._buffer = b""
        sock.sendall(request)
        buffer = self._buffer
        while HEADER_END not in buffer:
            if len(buffer) > MAX_HEADER_BYTES:
                raise HttpError("response header block too long")
            buffer += self._recv(sock)
        head, _, buffer = buffer.partition(HEADER_END)
        status, length, closes = parse_head(head)
        while len(buffer) < length:
            buffer += self._recv(sock)
        self._buffer = buffer[length:]
        if closes:
            self.close()
        return Response(status, buffer[:length])

    def close(self) -> None:
        """Close the socket; the next exchange opens a new one."""
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._buffer = b""

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        chunk = sock.recv(RECV_BYTES)
        if not chunk:
            raise HttpError("connection closed before the response ended")
        return chunk


def tcp_connector(host: str, port: int, timeout_s: float) -> Callable[[], socket.socket]:
    """Opens a TCP connection with Nagle off: a request is one small write, sent at once."""

    def connect() -> socket.socket:
        sock = socket.create_connection((host, port), timeout=timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    return connect
