from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from eks_emulator.device import EmulatedDevice
from eks_emulator.frames import Frame
from eks_emulator.protocol import ConnectionClosed, EksConnection, Event, Role
from eks_emulator.service_time import ServiceTime
from tests.conftest import TIMEOUT

# Every timeout in tests/eks is a multiple of this unit: a fifth of the suite's one time unit (1 s by default), so
# HARNESS_TEST_TIMEOUT scales these waits too.
UNIT = TIMEOUT / 5
SERIAL = bytes.fromhex("0011223344556677")


class RawClient:
    """A controller over a real loopback socket, decoding with the sans-I/O codec."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = EksConnection(Role.CONTROLLER)
        self.events: list[Event] = []
        self.chunks: list[bytes] = []

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), UNIT)
        return cls(reader, writer)

    async def send(self, frame: Frame | bytes) -> None:
        self.writer.write(frame if isinstance(frame, bytes) else self.conn.send(frame))
        await self.writer.drain()

    async def read_chunk(self, timeout: float = UNIT) -> bytes:
        chunk = await asyncio.wait_for(self.reader.read(4096), timeout)
        self.chunks.append(chunk)
        return chunk

    async def next_event(self, timeout: float = UNIT) -> Event:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.events:
            chunk = await self.read_chunk(max(0.0, deadline - loop.time()))
            self.conn.receive_data(chunk)
            self.events.extend(self.conn.events_received())
        return self.events.pop(0)

    async def request(self, frame: Frame, timeout: float = UNIT) -> Event:
        await self.send(frame)
        return await self.next_event(timeout)

    async def expect_closed(self, timeout: float = UNIT) -> list[Event]:
        """Read until EOF; returns the events that came before it."""
        seen = []
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, ConnectionClosed):
                return seen
            seen.append(event)

    async def expect_silence(self, duration: float) -> None:
        try:
            chunk = await asyncio.wait_for(self.reader.read(4096), duration)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {chunk!r}")

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


@pytest.fixture
async def device() -> AsyncIterator[EmulatedDevice]:
    dev = EmulatedDevice(7, service_time=ServiceTime.fixed(0.0), seed=1)
    await dev.start()
    yield dev
    await dev.stop()
