"""Whether a URL a client gave us is safe for the service to call (completion webhooks).

A callback URL is chosen by whoever submits a task, and the service's processes sit inside the
operator's network, so a URL naming a private, loopback or link-local address would let any
client make the service call its neighbours (server-side request forgery). Such targets are
refused unless an operator allows them (a development stack whose receiver runs on
127.0.0.1). The check resolves the host, because a public name may point at a private address;
it runs when the URL is accepted and again before each delivery.
"""

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
Resolver = Callable[..., list[tuple[Any, ...]]]


def url_problem(url: str) -> str | None:
    """What is wrong with the URL's form (not where it points); None when it is well formed."""
    if len(url) > MAX_URL_CHARS:
        return f"must be at most {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        return f"is not a URL: {err}"
    checks = (
        (parts.scheme not in ("http", "https"), "must be an http or https URL"),
        (not parts.hostname, "must name a host"),
        (bool(parts.username or parts.password), "must not carry credentials"),
        (port == 0, "must not name port 0"),
    )
    return next((problem for failed, problem in checks if failed), None)


def _address_problem(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"points at a loopback address ({ip})"
    if ip.is_link_local:
        return f"points at a link-local address ({ip})"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return f"points at a private or reserved address ({ip})"
    if not ip.is_global:
        return f"points at an address that is not public ({ip})"
    return None


def target_problem(
    url: str, *, allow_private: bool, resolve: Resolver = socket.getaddrinfo
) -> str | None:
    """Why the service must not call `url`; None when it may.

    With `allow_private` only the form is checked. Otherwise every address the host resolves
    to must be public: one private address is enough to refuse.
    """
    problem = url_problem(url)
    if problem is not None or allow_private:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        return f"names a host that does not resolve ({err})"
    for info in infos:
        problem = _address_problem(str(info[4][0]))
        if problem is not None:
            return problem
    return None if infos else "names a host without addresses"
