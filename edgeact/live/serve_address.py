"""``--serve`` addresses: parsing ``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``, refusing
an address other than loopback without a token, and binding the listening socket before the loop
starts (so a port in use is a one-line error). See :mod:`edgeact.live.serve`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Optional

from edgeact.errors import EdgeactError, keywords

# kernel send buffer of each connection (accepted sockets inherit the listener's): without a cap
# Linux grows it to megabytes, which a stalled viewer fills with stale JPEGs before its sends block;
# 256 KiB still carries 15 fps of large JPEGs over a link with 100 ms round trips
SEND_BUFFER = 256 * 1024
DEFAULT_HOST = "127.0.0.1"


def parse_serve_address(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``--serve``: ``PORT`` or ``:PORT`` (loopback), ``HOST:PORT``,
    ``[IPv6]:PORT``. Port 0 picks a free one (printed at start). The usage an error gives points
    at ``{token}`` (the bearer token another address needs: :func:`check_serve`'s keyword)."""
    raw = str(text).strip()
    usage = "give PORT, :PORT or HOST:PORT (e.g. 8080, or 0.0.0.0:8080 with {token})"
    host, port = "", raw
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or not raw[end + 1:].startswith(":"):
            raise EdgeactError(f"{raw}: {usage}", param="text", mention="token")
        host, port = raw[1:end], raw[end + 2:]
    elif ":" in raw:
        host, _, port = raw.rpartition(":")
        if ":" in host:
            raise EdgeactError(f"{raw}: write an IPv6 address in brackets, [::1]:8080", param="text")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise EdgeactError(f"{raw}: the port is not a number in 0-65535; {usage}", param="text", mention="token")
    return host or DEFAULT_HOST, int(port)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_serve(address: str, token: Optional[str]) -> tuple[str, int]:
    """``(host, port)``, refusing an address other than loopback without a token."""
    with keywords(text="address"):
        host, port = parse_serve_address(address)
    if not is_loopback(host) and not token:
        raise EdgeactError(f"{address}: binding {host} lets other machines watch the cameras; give {{token}} "
                           "(or EDGEACT_SERVE_TOKEN), or serve on 127.0.0.1", param="address", mention="token")
    if token is not None and not token.strip():
        raise EdgeactError("is empty", param="token")
    return host, port


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; in use, not ours, or not allowed is one line about
    ``host, port`` (``live`` names its ``serve``)."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise EdgeactError(f"{shown}: cannot resolve {host} ({exc.strerror})", param=("host", "port")) from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # TIME_WAIT is free; a listening port is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.bind(addr)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        why = {errno.EADDRINUSE: "the port is in use (another edgeact live, or another server)",
               errno.EACCES: "permission denied (ports below 1024 need privileges)",
               errno.EADDRNOTAVAIL: f"{host} is not an address of this machine"}.get(exc.errno, exc.strerror)
        raise EdgeactError(f"{shown}: cannot listen: {why}", param=("host", "port")) from None
    sock.setblocking(False)
    return sock
