"""A tiny HTTP/JSON endpoint with the gateway's state: ``GET /status`` and ``GET /readers`` [D].

One request per connection, GET only, answered from memory; enough for a harness to poll, no framework.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

from reference_app.gateway.stats import GatewayStats

__all__ = ["StatusServer"]

REQUEST_TIMEOUT_S = 5.0
MAX_HEADER_BYTES = 8192


class StatusServer:
    def __init__(self, stats: GatewayStats, host: str, port: int) -> None:
        self.stats = stats
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            raise OSError(
                f"the status endpoint cannot listen on {self.host}:{self.port}: {exc.strerror}; "
                "choose another --status-port (0 = any free port)"
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def route(self, method: str, path: str) -> tuple[HTTPStatus, Any]:
        target = path.split("?", 1)[0].rstrip("/") or "/"
        if target not in ("/status", "/readers"):
            return HTTPStatus.NOT_FOUND, {"error": f"no such path {target!r}; try /status or /readers"}
        if method != "GET":
            return HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{method} {target}: only GET is served"}
        if target == "/status":
            return HTTPStatus.OK, self.stats.snapshot()
        readers = [state.as_dict() for _, state in sorted(self.stats.readers.items())]
        return HTTPStatus.OK, {"readers": readers}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_HEADER_BYTES:
                status, body = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, {"error": "request head too large"}
            else:
                parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
                if len(parts) != 3:
                    status, body = HTTPStatus.BAD_REQUEST, {"error": "malformed request line"}
                else:
                    status, body = self.route(parts[0], parts[1])
            payload = json.dumps(body, sort_keys=True).encode()
            writer.write(
                f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
