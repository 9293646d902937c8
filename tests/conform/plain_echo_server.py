"""A plain ``websockets`` echo server, as a user's own server the harness did not start: ``python -m
tests.conform.plain_echo_server PORT``. It is not ASGI and serves no probe app, and it answers plain HTTP with 426."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _main(port: int) -> None:
    async with serve(_echo, "127.0.0.1", port) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1])))
