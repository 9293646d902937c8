"""The outermost ASGI wrapper: lifespan handling and, with the in-memory layer, the timeclock worker in-process.

The in-memory channel layer exists only inside one process, so ``runworker`` in another process would never see a
message. With that layer the worker runs as a task of the server process instead, started on the first event the server
delivers (Daphne sends no lifespan events, so startup cannot be the only trigger).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from channels.layers import get_channel_layer
from channels.worker import Worker

__all__ = ["ReferenceApplication"]

logger = logging.getLogger("reference_app.worker")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ReferenceApplication:
    def __init__(self, app: ASGIApp, *, worker_channel: str | None) -> None:
        self.app = app
        self.worker_channel = worker_channel
        self._worker_task: asyncio.Task[None] | None = None

    def _start_worker(self) -> None:
        if self.worker_channel is None or self._worker_task is not None:
            return
        worker = Worker(application=self.app, channels=[self.worker_channel], channel_layer=get_channel_layer())
        self._worker_task = asyncio.get_running_loop().create_task(worker.arun(), name="timeclock-worker")
        self._worker_task.add_done_callback(self._worker_done)
        logger.info("timeclock worker running in-process on channel %r", self.worker_channel)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("in-process timeclock worker stopped", exc_info=task.exception())
        # A later event restarts it rather than leaving the timeclock silently dead.
        self._worker_task = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._start_worker()
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._worker_task is not None:
                    self._worker_task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
