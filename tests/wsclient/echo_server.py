"""A websockets asyncio server for the client tests, run as a subprocess; prints its port, then serves.

Each path is one behaviour the client must handle; run ``python -m tests.wsclient.echo_server``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

__all__ = ["main"]

#: How long /ping waits for the client's pong before reporting that none came.
PONG_WAIT = 2.0
#: Reply delay of /slow: long enough that 50 greenlets run serially would take many seconds.
SLOW_DELAY = 0.3
SUBPROTOCOLS = ("chat.v2", "chat.v1")


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    path = urlsplit(request.path).path
    if path == "/forbidden":
        return connection.respond(403, "Forbidden by test server\n")
    if path == "/missing":
        return connection.respond(404, "Not found\n")
    return None


def select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # Unlike the default, accept clients that offer no subprotocol: most tests offer none.
    return next((p for p in offered if p in SUBPROTOCOLS), None)


async def handler(ws: ServerConnection) -> None:
    try:
        await behave(ws)
    except ConnectionClosed:
        pass  # clients that vanish are part of the tests


async def behave(ws: ServerConnection) -> None:
    assert ws.request is not None
    url = urlsplit(ws.request.path)
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    if url.path == "/headers":
        headers: dict[str, list[str]] = {}
        for name, value in ws.request.headers.raw_items():
            headers.setdefault(name.lower(), []).append(value)
        await ws.send(json.dumps({"path": ws.request.path, "headers": headers}))
    elif url.path == "/close":
        await ws.close(int(query.get("code", "1000")), query.get("reason", ""))
        return
    elif url.path == "/abort":
        await ws.recv()
        ws.transport.abort()
        return
    elif url.path == "/ping":
        await ws.recv()
        pong = await ws.ping(b"are you there")
        try:
            await asyncio.wait_for(pong, PONG_WAIT)
        except TimeoutError:
            await ws.send("no pong")
        else:
            await ws.send("pong received")
    elif url.path == "/burst":
        count = int(query.get("n", "100"))
        for i in range(count):
            await ws.send(f"burst {i}")
        if "close" in query:  # then close (1000) in the same breath
            await ws.close()
            return
    elif url.path == "/fragments":
        await ws.send(["frag", "mented ", "text"])
        await ws.send([b"\x00\x01", b"\x02"])
    elif url.path == "/slow":
        async for message in ws:
            await asyncio.sleep(SLOW_DELAY)
            await ws.send(message)
        return
    async for message in ws:
        await ws.send(message)


async def run() -> None:
    async with serve(
        handler,
        "127.0.0.1",
        0,
        process_request=process_request,
        max_size=None,
        ping_interval=None,
        select_subprotocol=select_subprotocol,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await server.serve_forever()


def main() -> None:
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
