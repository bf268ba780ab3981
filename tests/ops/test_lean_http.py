"""`ops/bench/lean_http.py`, the bench's HTTP client, against a peer on the other end of a
socket pair that answers with bytes written here: what it reads of a response, what it refuses,
and when it opens a new connection. The bench's quick run (tests/ops/test_bench.py) sends its
requests through it to the real API."""

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "ops" / "bench"
# The bench's modules import each other by name, as `ops/bench/run.py` (a script) sees them.
sys.path.insert(0, str(BENCH))

from lean_http import Connection, HttpError, build_request, parse_head  # noqa: E402

# In a scripted answer: close the connection here instead of writing more.
HANG_UP = b""
REQUEST = build_request("POST", "127.0.0.1:8080", "/api/tasks", {"X-A": "1"}, b'{"a": 1}')


class Peer:
    """The server side of each socket the client opens: it reads one request, then writes
    the next scripted answer, in pieces when the script says so."""

    def __init__(self, answers: list[list[bytes]]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.threads: list[threading.Thread] = []

    def connect(self) -> socket.socket:
        client, server = socket.socketpair()
        self.connections += 1
        thread = threading.Thread(target=self._serve, args=(server,), daemon=True)
        thread.start()
        self.threads.append(thread)
        return client

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            while self.answers:
                received = b""
                while not received.endswith(b'{"a": 1}'):
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                self.requests.append(received)
                for piece in self.answers.pop(0):
                    if piece == HANG_UP:
                        return
                    sock.sendall(piece)


@pytest.fixture
def join() -> Iterator[list[Peer]]:
    peers: list[Peer] = []
    yield peers
    for peer in peers:
        for thread in peer.threads:
            thread.join(timeout=5)


def answer(status: str, body: bytes, *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_the_request_is_written_once_with_its_length_and_headers():
    assert REQUEST == (
        b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 8\r\n"
        b'X-A: 1\r\n\r\n{"a": 1}'
    )


def test_two_responses_on_one_connection_even_when_they_arrive_in_pieces(join):
    first = answer("202 ACCEPTED", b'{"id": "x"}', "Content-Type: application/json")
    second = answer("429 TOO MANY REQUESTS", b'{"title": "slow down"}')
    peer = Peer([[first[:7], first[7:30], first[30:]], [second]])
    join.append(peer)
    conn = Connection(peer.connect)

    one = conn.exchange(REQUEST)
    two = conn.exchange(REQUEST)

    assert (one.status, one.body) == (202, b'{"id": "x"}')
    assert (two.status, two.body) == (429, b'{"title": "slow down"}')
    assert peer.connections == 1
    assert peer.requests == [REQUEST, REQUEST]
    conn.close()


def test_a_server_that_closes_after_answering_gets_a_new_connection_next_time(join):
    peer = Peer([[answer("202 ACCEPTED", b"{}", "Connection: close")], [answer("200 OK", b"[]")]])
    join.append(peer)
    conn = Connection(peer.connect)

    assert conn.exchange(REQUEST).status == 202
    assert conn.exchange(REQUEST).body == b"[]"
    assert peer.connections == 2
    conn.close()


def test_a_connection_that_ends_mid_body_is_an_error(join):
    whole = answer("202 ACCEPTED", b'{"id": "abcdef"}')
    peer = Peer([[whole[:-4], HANG_UP]])
    join.append(peer)
    conn = Connection(peer.connect)

    with pytest.raises(HttpError, match="closed before the response ended"):
        conn.exchange(REQUEST)
    # The broken exchange closed the connection: nothing of it is left for the next one.
    assert conn._sock is None and conn._buffer == b""


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "chunked"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain", "without Content-Length"),
        (b"SSH-2.0-OpenSSH_9.2", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 abc OK\r\nContent-Length: 0", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: twelve", "bad Content-Length"),
    ],
)
def test_responses_this_client_does_not_read_are_refused_with_a_reason(head, reason):
    with pytest.raises(HttpError, match=reason):
        parse_head(head)


def test_the_head_says_status_length_and_whether_the_server_closes():
    assert parse_head(b"HTTP/1.1 202 ACCEPTED\r\ncontent-length: 12") == (202, 12, False)
    assert parse_head(b"HTTP/1.1 503 X\r\nContent-Length: 0\r\nConnection: close") == (
        503,
        0,
        True,
    )
    assert parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 3") == (200, 3, True)
