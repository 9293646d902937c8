"""Loopback ports and HTTP readiness probes."""

from __future__ import annotations

import http.client
import json
import random
import socket
from pathlib import Path
from typing import Any

__all__ = [
    "ephemeral_port_range",
    "find_free_port_range",
    "free_port",
    "http_get_json",
    "http_json",
    "listening_socket",
]

#: Lowest port handed out by :func:`find_free_port_range`; below it sit well-known services (PostgreSQL, Redis ...).
PORT_RANGE_LOW = 20000
#: The IANA ephemeral range, used where the kernel's cannot be read.
_IANA_EPHEMERAL = (49152, 65535)
_LINUX_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ephemeral_port_range() -> tuple[int, int]:
    """The ports the kernel picks from for ``bind(0)`` and outgoing connections (inclusive bounds)."""
    try:
        low, high = (int(field) for field in _LINUX_EPHEMERAL.read_text().split())
    except (OSError, ValueError):
        return _IANA_EPHEMERAL
    return low, high


def find_free_port_range(
    count: int, host: str = "127.0.0.1", seed: int | None = None, *, exclude: range = range(0)
) -> int:
    """A base port such that base .. base+count-1 can all be bound right now and none lies in ``exclude``.

    The block is taken below the kernel's ephemeral range when it fits there. Ports in that range are handed out
    by the kernel to every ``bind(0)`` (:func:`free_port`) and every outgoing connection, so a block checked free
    there can be taken before its owner binds it: an emulated reader then sat on a gateway's status port.
    """
    ephemeral_low, _ = ephemeral_port_range()
    low, high = PORT_RANGE_LOW, ephemeral_low
    if high - low < 4 * count:
        low = 1024
    if high - low < 4 * count:
        # Too many ports to keep out of the ephemeral range: accept the small chance of a race.
        low, high = PORT_RANGE_LOW, 65535
    if high - low < count:
        raise ValueError(f"cannot find {count} consecutive ports: at most {high - low} fit in {low}-{high}")
    rng = random.Random(seed)
    for _ in range(50):
        base = rng.randrange(low, high - count + 1)
        if base < exclude.stop and exclude.start < base + count:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"found no {count} consecutive free ports in {low}-{high}")


def listening_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A bound, listening, inheritable TCP socket that several server processes can accept on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def http_json(
    host: str, port: int, method: str, path: str, body: Any = None, *, timeout: float = 3.0
) -> tuple[int, Any]:
    """Send ``body`` (as JSON, if not None) with ``method`` to ``path``; return (status, decoded JSON or None).

    Connection errors and timeouts raise OSError.
    """
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Host": host}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except http.client.HTTPException as exc:
        raise OSError(f"{host}:{port} answered {method} {path} with something that is not HTTP: {exc}") from exc
    finally:
        conn.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, None


def http_get_json(host: str, port: int, path: str, *, timeout: float = 3.0) -> tuple[int, Any]:
    """GET ``path`` and return (status, decoded JSON or None). Connection errors raise OSError."""
    return http_json(host, port, "GET", path, timeout=timeout)
