"""Opening a connection: DNS, TCP, TLS and the opening handshake, each timed, each failure classified."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Final

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidURI
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from harness.load.wsclient.connection import WsConnection
from harness.load.wsclient.model import ConnectFailure, ConnectTiming, remaining

__all__ = ["USER_AGENT", "connect"]

USER_AGENT: Final = "channels-harness"


def _open_tcp(host: str, port: int, deadline: float) -> tuple[socket.socket, int]:
    """Resolve and connect, trying each address in turn like ``socket.create_connection``."""
    started = time.monotonic_ns()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectFailure("dns", f"cannot resolve {host!r}: {exc}", phase="dns") from exc
    dns_ns = time.monotonic_ns() - started
    last: ConnectFailure | None = None
    for family, type_, proto, _, address in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.settimeout(remaining(deadline, "tcp"))
            sock.connect(address)
        except ConnectFailure:
            sock.close()
            raise
        except ConnectionRefusedError as exc:
            sock.close()
            last = ConnectFailure("refused", f"{address}: {exc}", phase="tcp")
            continue
        except TimeoutError as exc:
            sock.close()
            raise ConnectFailure("timeout", f"TCP connect to {address} timed out", phase="tcp") from exc
        except OSError as exc:
            sock.close()
            last = ConnectFailure("other", f"{address}: {exc}", phase="tcp")
            continue
        # Small messages must leave at once; Nagle would add up to 40 ms to every round trip.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, dns_ns
    raise last if last is not None else ConnectFailure("dns", f"no address for {host!r}", phase="dns")


def connect(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    origin: str | None = None,
    cookies: Mapping[str, str] | None = None,
    subprotocols: Sequence[str] | None = None,
    timeout: float = 10.0,
    max_size: int | None = 2**20,
    decode_text: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> WsConnection:
    """Open a WebSocket connection the way a browser would, blocking until it is open.

    Args:
        url: ``ws://`` or ``wss://`` URL; put query-string tokens here, as browsers must.
        headers: Extra request headers; a name given here replaces the one the client would send
            (``Host``, ``User-Agent``...).
        origin: Value of the ``Origin`` header (Channels' ``AllowedHostsOriginValidator`` refuses
            a socket without one).
        cookies: Sent as one ``Cookie`` header, ``name=value`` pairs joined by ``"; "``.
        subprotocols: Offered in ``Sec-WebSocket-Protocol``; the chosen one is
            :attr:`WsConnection.subprotocol`.
        timeout: Seconds for the whole connect: DNS, TCP, TLS and the opening handshake.
        max_size: Largest incoming message in bytes (``None``: no limit); a bigger one closes the
            connection with 1009.
        decode_text: Return text messages as ``str`` (validating UTF-8); ``False`` keeps the
            bytes, which saves the decode when the payload goes straight to a JSON parser.
        ssl_context: For ``wss://``; the default verifies certificates.

    Returns:
        The open connection.

    Raises:
        ConnectFailure: With ``kind`` telling why (see the class).
        ValueError: If ``url`` is not a WebSocket URL.
    """
    started = time.monotonic_ns()
    deadline = time.monotonic() + timeout
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(str(exc)) from exc

    sock, dns_ns = _open_tcp(uri.host, uri.port, deadline)
    try:
        if uri.secure:
            context = ssl_context if ssl_context is not None else ssl.create_default_context()
            sock.settimeout(remaining(deadline, "tls"))
            try:
                sock = context.wrap_socket(sock, server_hostname=uri.host)
            except TimeoutError as exc:
                raise ConnectFailure("timeout", "TLS handshake timed out", phase="tls") from exc
            except OSError as exc:
                raise ConnectFailure("other", f"TLS handshake failed: {exc}", phase="tls") from exc
        tcp_done = time.monotonic_ns()

        protocol = ClientProtocol(
            uri,
            origin=Origin(origin) if origin is not None else None,
            subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols is not None else None,
            max_size=max_size,
        )
        request = protocol.connect()
        extra: dict[str, str] = {"User-Agent": USER_AGENT}
        if cookies:
            extra["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        extra.update(headers or {})
        for name, value in extra.items():
            # Headers.__setitem__ appends, so drop the client's own value first to replace it.
            if name in request.headers:
                del request.headers[name]
            request.headers[name] = value
        protocol.send_request(request)

        conn = WsConnection(sock, protocol, decode_text=decode_text, max_size=max_size)
        response = conn._handshake(deadline)
        done = time.monotonic_ns()
    except BaseException:
        sock.close()
        raise
    conn.response_headers = dict(response.headers.raw_items())
    conn.connect_timing = ConnectTiming(
        dns_ns=dns_ns,
        tcp_ns=tcp_done - started - dns_ns,
        handshake_ns=done - tcp_done,
        total_ns=done - started,
    )
    return conn
