"""A TCP fault proxy: put it between a client and a server (the app and Redis, a browser and the app) and switch
toxics on and off while traffic flows.

``FaultProxy(upstream=("127.0.0.1", 6379)).start()`` listens on a free port of 127.0.0.1 (:attr:`FaultProxy.port`)
and relays every connection to ``upstream``, each direction through a :class:`~harness.faults.toxics.LinkState`.
:meth:`FaultProxy.set_toxic` changes the toxic of a direction for every connection, open and future; every change is
logged with its monotonic and wall-clock time (:attr:`FaultProxy.log`), so a run can say exactly when a fault began
and ended. The proxy runs its own asyncio loop in a thread, so blocking code (the harness's runner, a test) can use
it; :meth:`FaultProxy.stop` closes every connection and the listener.

A reset is a real TCP RST (``SO_LINGER`` 0 then close), as Toxiproxy's ``reset_peer``; a blackhole keeps both
sockets open and forwards nothing; a half-open closes the far side and leaves the near side open and silent.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from harness.faults.toxics import DIRECTIONS, Direction, HalfOpen, LinkState, ResetPeer, Toxic

__all__ = ["FaultProxy", "ToxicChange"]

_CHUNK: Final = 65536


@dataclass(frozen=True, slots=True)
class ToxicChange:
    """One change of a direction's toxic: when (monotonic and wall clock), which direction, what it became."""

    monotonic_s: float
    wall_s: float
    direction: Direction
    toxic: Toxic | None

    def to_dict(self) -> dict[str, object]:
        return {
            "monotonic_s": self.monotonic_s,
            "wall_s": self.wall_s,
            "direction": self.direction,
            "toxic": None if self.toxic is None else {"kind": type(self.toxic).__name__, **_fields(self.toxic)},
        }


def _fields(toxic: Toxic) -> dict[str, object]:
    return {name: getattr(toxic, name) for name in getattr(toxic, "__slots__", ())}


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    links: dict[Direction, LinkState]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False

    def writer_of(self, direction: Direction) -> asyncio.StreamWriter:
        return self.server if direction == "upstream" else self.client

    def reset(self) -> None:
        if not self.closed:
            self.closed = True
            _reset(self.client)
            _reset(self.server)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.client.close()
            self.server.close()


class FaultProxy:
    """A TCP proxy to ``upstream`` (host, port) with switchable toxics; see the module's docstring.

    Args:
        upstream: where every connection is relayed.
        seed: seeds each link's jitter (connection ``k``'s direction gets ``seed + 2k`` or ``+ 1``), so a run repeats.
        on_change: called with each :class:`ToxicChange` as it happens (e.g. to record it in a result).
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        seed: int = 0,
        on_change: Callable[[ToxicChange], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.seed = seed
        self.on_change = on_change
        self.port = 0
        self.log: list[ToxicChange] = []
        self.accepted = 0
        self._toxics: dict[Direction, Toxic | None] = {"upstream": None, "downstream": None}
        self._connections: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- the caller's side (any thread) ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> FaultProxy:
        """Listen on ``port`` of 127.0.0.1 (0: a free one) and relay; returns once it listens.

        Raises:
            OSError: the listener could not be opened.
        """
        self.port = port
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.upstream[1]}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise OSError(f"the fault proxy to {self.upstream[0]}:{self.upstream[1]} did not start: {self._error}")
        return self

    def set_toxic(self, direction: Direction, toxic: Toxic | None) -> ToxicChange:
        """Put ``toxic`` on ``direction`` (None: take it off) for every connection, open and future."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r}: expected one of {', '.join(DIRECTIONS)}")
        change = ToxicChange(time.monotonic(), time.time(), direction, toxic)
        loop = self._loop
        if loop is None:
            raise RuntimeError("the fault proxy is not running")
        done = threading.Event()

        def apply() -> None:
            self._toxics[direction] = toxic
            self.log.append(change)
            for conn in list(self._connections):
                conn.links[direction].toxic = toxic
                self._apply_link_toxic(conn, direction, toxic)
            done.set()

        loop.call_soon_threadsafe(apply)
        done.wait(10)
        if self.on_change is not None:
            self.on_change(change)
        return change

    def stop(self) -> None:
        """Close every connection and the listener, and end the thread."""
        loop = self._loop
        if loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            future.result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # -- the proxy's loop -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port))
            self.port = int(self._server.sockets[0].getsockname()[1])
        except OSError as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
            for task in conn.tasks:
                task.cancel()
        self._connections.clear()

    def _apply_link_toxic(self, conn: _Connection, direction: Direction, toxic: Toxic | None) -> None:
        if isinstance(toxic, ResetPeer):
            conn.reset()
        elif isinstance(toxic, HalfOpen):
            # The far side sees the end; the near side is left open, and what it sends goes nowhere.
            conn.writer_of(direction).close()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        k = self.accepted
        if isinstance(self._toxics["upstream"], ResetPeer) or isinstance(self._toxics["downstream"], ResetPeer):
            _reset(client_writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(client_writer)
            return
        links: dict[Direction, LinkState] = {
            "upstream": LinkState(self.seed + 2 * k, self._toxics["upstream"]),
            "downstream": LinkState(self.seed + 2 * k + 1, self._toxics["downstream"]),
        }
        conn = _Connection(client_writer, server_writer, links)
        self._connections.add(conn)
        for direction in DIRECTIONS:
            toxic = links[direction].toxic
            if isinstance(toxic, HalfOpen):
                self._apply_link_toxic(conn, direction, toxic)
        conn.tasks = [
            asyncio.create_task(self._pump(conn, "upstream", client_reader)),
            asyncio.create_task(self._pump(conn, "downstream", server_reader)),
        ]
        try:
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        finally:
            conn.close()
            self._connections.discard(conn)

    async def _pump(self, conn: _Connection, direction: Direction, reader: asyncio.StreamReader) -> None:
        writer = conn.writer_of(direction)
        link = conn.links[direction]
        loop = asyncio.get_running_loop()
        # Chunks wait here until their time comes; a writer task keeps their order.
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

        async def write() -> None:
            while (item := await queue.get()) is not None:
                at_ns, data = item
                wait = (at_ns - time.monotonic_ns()) / 1e9
                if wait > 0:
                    await asyncio.sleep(wait)
                if conn.closed or writer.is_closing():
                    continue
                writer.write(data)
                try:
                    await writer.drain()
                except OSError:
                    return

        writing = loop.create_task(write())
        try:
            while not conn.closed:
                try:
                    data = await reader.read(_CHUNK)
                except OSError:
                    break
                if not data:
                    break
                decision = link.decide(len(data), time.monotonic_ns())
                if decision.reset:
                    conn.reset()
                    break
                if decision.close:
                    conn.close()
                    break
                if decision.at_ns is not None:
                    queue.put_nowait((decision.at_ns, data))
        finally:
            queue.put_nowait(None)
            await asyncio.gather(writing, return_exceptions=True)
            # The far side learns of the end once what was owed to it has gone (a FIN after the data).
            half_open = any(isinstance(each.toxic, HalfOpen) for each in conn.links.values())
            if not conn.closed and not half_open:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except OSError:
                    pass
