"""One emulated EKS reader: an asyncio TCP server that owns every socket and timer of the device.

The protocol logic lives elsewhere (``protocol.EksConnection`` decodes, ``key.answer`` computes replies,
``faults`` describes what to break); this module only connects them to sockets and the clock.

Behaviour [F] unless marked:
* one application client at a time; another gets ``RF 61`` and is closed ([D] the close);
* ``Ek`` is pushed on insert and remove, and on accept ([I], switch ``push_on_accept``);
* a reply is computed when its service time has elapsed, so a key pulled in the meantime gives
  ``RF 02`` as on a real reader, where "the key must stay in place until the reply arrives";
* requests on one connection are answered in order; service times queue up behind each other [D];
* inserting while a key is in first removes the old key (``Ek 02`` then ``Ek 01``) [D].
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from .faults import ONE_SHOT, Fault, FaultKind, replace_command, replace_length
from .frames import Frame, KeyState, KeyStatus, MalformedFrame, ReadRequest, Status, StatusReply, WriteRequest
from .key import Key, KeyAction, answer
from .protocol import EksConnection, Role
from .service_time import ServiceTime

__all__ = [
    "DEFAULT_SERVICE_TIME",
    "DeviceMetrics",
    "EmulatedDevice",
    "KeyObserver",
]

logger = logging.getLogger(__name__)

# The anchors' proposal; the real value is not published [D].
DEFAULT_SERVICE_TIME = ServiceTime.uniform(0.02, 0.08)
_RELISTEN_RETRY_S = 0.1

KeyObserver = Callable[["EmulatedDevice", KeyAction, Key, str, bool], None]
"""Called as ``observer(device, action, key, source, pushed)`` right after a key went in or out;
``pushed`` says whether an ``Ek`` frame was written to a connected client."""


@dataclass(slots=True)
class DeviceMetrics:
    accepted: int = 0
    rejected_busy: int = 0
    requests: int = 0
    replies: int = 0
    pushes: int = 0
    malformed_received: int = 0
    bytes_sent: int = 0
    inserts: int = 0
    removes: int = 0
    reboots: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Link(asyncio.Protocol):
    """One accepted TCP connection. Holds only per-connection I/O state; decisions are the device's."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.device = device
        self.conn = EksConnection(Role.DEVICE)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.pending: deque[tuple[float, Frame]] = deque()
        self.reply_timer: asyncio.TimerHandle | None = None
        self.split_queue = bytearray()
        self.split_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.device._accept(self)

    def data_received(self, data: bytes) -> None:
        self.device._receive(self, data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for timer in (self.reply_timer, self.split_timer):
            if timer is not None:
                timer.cancel()
        self.pending.clear()
        self.device._lost(self)

    def write(self, data: bytes, split_gap_s: float | None) -> None:
        if self.closed or self.transport is None:
            return
        if split_gap_s is None and not self.split_queue:
            self.transport.write(data)
            return
        # Once bytes are queued for slow writing, later bytes queue behind them to keep the stream in order.
        self.split_queue += data
        if self.split_timer is None:
            self._drain_one(split_gap_s if split_gap_s is not None else 0.0)

    def _drain_one(self, gap_s: float) -> None:
        self.split_timer = None
        if self.closed or self.transport is None or not self.split_queue:
            return
        self.transport.write(bytes(self.split_queue[:1]))
        del self.split_queue[:1]
        if self.split_queue:
            self.split_timer = asyncio.get_running_loop().call_later(gap_s, self._drain_one, gap_s)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def reset(self) -> None:
        """Close with RST instead of FIN: SO_LINGER on with a zero timeout, then drop the socket."""
        if self.transport is None or self.closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class EmulatedDevice:
    """An emulated reader listening on ``host:port`` (port 0: assigned by the OS, see ``port``).

    Args:
        device_id: the device's number in the (global) fleet.
        host, port: where to listen.
        push_on_accept: send ``Ek`` with the current state right after accepting a client.
        service_time: distribution of the reply delay.
        seed: seeds the service-time draws, garbage bytes and bounce serials of this device.
        observer: told about every insert and remove (see ``KeyObserver``).
    """

    def __init__(
        self,
        device_id: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        push_on_accept: bool = True,
        service_time: ServiceTime = DEFAULT_SERVICE_TIME,
        seed: int | str = 0,
        observer: KeyObserver | None = None,
    ) -> None:
        self.device_id = device_id
        self.host = host
        self._port = port
        self.push_on_accept = push_on_accept
        self.service_time = service_time
        self.observer = observer
        self.metrics = DeviceMetrics()
        self._rng = random.Random(f"device:{seed}:{device_id}")
        self._key: Key | None = None
        self._server: asyncio.Server | None = None
        self._client: _Link | None = None
        self._links: set[_Link] = set()
        self._faults: dict[FaultKind, Fault] = {}
        self._fault_timers: dict[FaultKind, list[asyncio.TimerHandle]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def client_connected(self) -> bool:
        return self._client is not None and not self._client.closed

    @property
    def key(self) -> Key | None:
        return self._key

    @property
    def faults(self) -> dict[FaultKind, Fault]:
        return dict(self._faults)

    async def start(self) -> None:
        """Start listening; raises OSError if the port cannot be bound."""
        self._stopped = False
        await self._listen()

    async def stop(self) -> None:
        """Close the listener and every connection and cancel every timer of this device."""
        self._stopped = True
        for timers in self._fault_timers.values():
            for timer in timers:
                timer.cancel()
        self._fault_timers.clear()
        self._faults.clear()
        for task in list(self._tasks):
            task.cancel()
        self._close_listener()
        for link in list(self._links):
            link.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Link(self), self.host, self._port, reuse_address=True, backlog=16)
        self._port = server.sockets[0].getsockname()[1]
        self._server = server

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _come_up(self) -> None:
        if self._stopped or self._server is not None:
            return

        async def relisten() -> None:
            try:
                await self._listen()
            except OSError as exc:
                # Another process may have taken the port while we were down; keep trying, as a reader would.
                logger.warning("device %s: cannot listen on port %s again: %s", self.device_id, self._port, exc)
                self._later(FaultKind.REBOOT, _RELISTEN_RETRY_S, self._come_up)

        self._spawn(relisten())

    def _go_down(self, *, keep_key: bool, source: str) -> None:
        self._close_listener()
        if self._client is not None:
            # The reader's TCP state is gone after a reboot: the next packet from the client meets a reset.
            self._client.reset()
        if not keep_key and self._key is not None:
            key, self._key = self._key, None
            self.metrics.removes += 1
            self._notify(KeyAction.REMOVE, key, source, False)

    # -- key handling ------------------------------------------------------------------------------

    def insert(self, key: Key, *, source: str = "api") -> None:
        """Put ``key`` into the reader and push ``Ek 01``; a key already in is removed first."""
        if self._key is not None:
            self.remove(source=source)
        self._key = key
        self.metrics.inserts += 1
        pushed = self._push_state()
        self._notify(KeyAction.INSERT, key, source, pushed)

    def remove(self, *, source: str = "api") -> Key | None:
        """Pull the key out and push ``Ek 02``; returns the key, or None if there was none."""
        key, self._key = self._key, None
        if key is None:
            return None
        self.metrics.removes += 1
        pushed = self._push_state()
        self._notify(KeyAction.REMOVE, key, source, pushed)
        return key

    def _notify(self, action: KeyAction, key: Key, source: str, pushed: bool) -> None:
        if self.observer is not None:
            self.observer(self, action, key, source, pushed)

    def _reported_state(self) -> KeyState:
        if FaultKind.EK_OTHER in self._faults:
            return KeyState.OTHER
        return KeyState.IN if self._key is not None else KeyState.OUT

    def _push_state(self) -> bool:
        link = self._client
        if link is None or link.closed or FaultKind.BLACKHOLE in self._faults:
            return False
        self.metrics.pushes += 1
        self._send(link, KeyStatus(self._reported_state()))
        return True

    # -- connections -------------------------------------------------------------------------------

    def _accept(self, link: _Link) -> None:
        self._links.add(link)
        if FaultKind.SECOND_CLIENT in self._faults or self.client_connected:
            self.metrics.rejected_busy += 1
            link.write(StatusReply(Status.TOO_MANY_CONNECTIONS).serialize(), None)
            link.close()
            return
        self.metrics.accepted += 1
        self._client = link
        if self.push_on_accept:
            self._push_state()

    def _lost(self, link: _Link) -> None:
        self._links.discard(link)
        if self._client is link:
            self._client = None

    def _receive(self, link: _Link, data: bytes) -> None:
        if link is not self._client or FaultKind.BLACKHOLE in self._faults:
            return
        link.conn.receive_data(data)
        for event in link.conn.events_received():
            if isinstance(event, MalformedFrame):
                self.metrics.malformed_received += 1
                logger.info("device %s: closing after %s: %s", self.device_id, event.error.value, event.detail)
                link.close()
                return
            if isinstance(event, ReadRequest | WriteRequest | KeyStatus):
                self.metrics.requests += 1
                self._queue_reply(link, event)

    def _queue_reply(self, link: _Link, request: Frame) -> None:
        loop = asyncio.get_running_loop()
        delay = self.service_time.draw(self._rng)
        slow = self._faults.get(FaultKind.SLOW)
        if slow is not None:
            delay += slow.delay_s
        ready = loop.time() + delay
        if link.pending:
            ready = max(ready, link.pending[-1][0])
        link.pending.append((ready, request))
        if link.reply_timer is None:
            link.reply_timer = loop.call_at(ready, self._answer_next, link)

    def _answer_next(self, link: _Link) -> None:
        link.reply_timer = None
        if link.closed or not link.pending:
            return
        _, request = link.pending.popleft()
        if link.pending:
            link.reply_timer = asyncio.get_running_loop().call_at(link.pending[0][0], self._answer_next, link)
        if FaultKind.BLACKHOLE in self._faults or link is not self._client:
            return
        self._answer(link, request)

    def _answer(self, link: _Link, request: Frame) -> None:
        if isinstance(request, ReadRequest):
            read_error = self._faults.get(FaultKind.READ_ERROR)
            if read_error is not None:
                self._reply(link, StatusReply(read_error.status))
                return
            if FaultKind.PULLED_MID_READ in self._faults and self._key is not None:
                self.clear(FaultKind.PULLED_MID_READ)
                self._reply(link, StatusReply(Status.NO_KEY))
                self.remove(source="fault")
                return
        reported = KeyState.OTHER if FaultKind.EK_OTHER in self._faults else None
        self._reply(link, answer(request, self._key, reported_state=reported))

    def _reply(self, link: _Link, frame: Frame) -> None:
        self.metrics.replies += 1
        self._send(link, frame)

    def _send(self, link: _Link, frame: Frame) -> None:
        data = link.conn.send(frame)
        if FaultKind.GARBAGE in self._faults:
            data = self._rng.randbytes(self._faults[FaultKind.GARBAGE].size)
        else:
            if FaultKind.UNKNOWN_COMMAND in self._faults:
                data = replace_command(data, self._faults[FaultKind.UNKNOWN_COMMAND].command)
            if FaultKind.BAD_LENGTH in self._faults:
                data = replace_length(data, self._faults[FaultKind.BAD_LENGTH].length)
            if FaultKind.COALESCE in self._faults:
                data += KeyStatus(self._reported_state()).serialize()
        split = self._faults.get(FaultKind.SPLIT)
        self.metrics.bytes_sent += len(data)
        link.write(data, split.gap_s if split is not None else None)

    # -- faults ------------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Apply ``fault`` now; a lasting fault replaces an active one of the same kind."""
        kind = fault.kind
        self._cancel_timers(kind)
        if kind is FaultKind.FIN:
            if self._client is not None:
                self._client.close()
            return
        if kind is FaultKind.RST:
            if self._client is not None:
                self._client.reset()
            return
        self._faults[kind] = fault
        if kind not in ONE_SHOT and fault.duration_s is not None:
            self._later(kind, fault.duration_s, lambda: self.clear(kind))
        if kind is FaultKind.REBOOT:
            self.metrics.reboots += 1
            self._go_down(keep_key=fault.keep_key, source="reboot")
            self._later(kind, fault.down_s, lambda: self.clear(FaultKind.REBOOT))
        elif kind is FaultKind.FLAP:
            self._flap(fault, 0)
        elif kind is FaultKind.BOUNCE:
            self._bounce(fault)
        elif kind is FaultKind.SECOND_CLIENT:
            if self._client is not None:
                self._client.write(StatusReply(Status.TOO_MANY_CONNECTIONS).serialize(), None)
                self._client.close()
        elif kind is FaultKind.EK_OTHER:
            self._push_state()

    def clear(self, kind: FaultKind | None = None) -> list[FaultKind]:
        """End one fault (or all, with None) and undo what it holds down; returns the kinds cleared."""
        kinds = [kind] if kind is not None else list(self._faults)
        cleared = []
        for k in kinds:
            self._cancel_timers(k)
            if self._faults.pop(k, None) is None:
                continue
            cleared.append(k)
            if k in (FaultKind.REBOOT, FaultKind.FLAP):
                self._come_up()
            elif k is FaultKind.EK_OTHER:
                self._push_state()
        return cleared

    def reboot(self, down_s: float, *, keep_key: bool = True) -> None:
        """Shorthand for injecting ``Fault(FaultKind.REBOOT, down_s=..., keep_key=...)``."""
        self.inject(Fault(FaultKind.REBOOT, down_s=down_s, keep_key=keep_key))

    def _later(self, kind: FaultKind, delay_s: float, callback: Callable[[], object]) -> None:
        handle = asyncio.get_running_loop().call_later(delay_s, callback)
        self._fault_timers.setdefault(kind, []).append(handle)

    def _cancel_timers(self, kind: FaultKind) -> None:
        for handle in self._fault_timers.pop(kind, []):
            handle.cancel()

    def _flap(self, fault: Fault, cycle: int) -> None:
        if self._faults.get(FaultKind.FLAP) is not fault:
            return
        self.metrics.reboots += 1
        self._go_down(keep_key=fault.keep_key, source="flap")

        def back_up() -> None:
            self._come_up()
            if fault.cycles and cycle + 1 >= fault.cycles:
                self._faults.pop(FaultKind.FLAP, None)
                self._fault_timers.pop(FaultKind.FLAP, None)
                return
            self._later(FaultKind.FLAP, fault.up_s, lambda: self._flap(fault, cycle + 1))

        self._later(FaultKind.FLAP, fault.down_s, back_up)

    def _bounce(self, fault: Fault) -> None:
        serial = bytes.fromhex(fault.serial_hex) if fault.serial_hex else Key.random(self._rng).serial
        self.insert(Key(serial), source="bounce")

        def out() -> None:
            self.remove(source="bounce")
            self._later(FaultKind.BOUNCE, fault.gap_s, back_in)

        def back_in() -> None:
            self.insert(Key(serial), source="bounce")
            self._faults.pop(FaultKind.BOUNCE, None)
            self._fault_timers.pop(FaultKind.BOUNCE, None)

        self._later(FaultKind.BOUNCE, fault.gap_s, out)

    # -- reporting ---------------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        return {
            "id": self.device_id,
            "host": self.host,
            "port": self._port,
            "listening": self.listening,
            "client_connected": self.client_connected,
            "key": self._key.id if self._key is not None else None,
            "faults": sorted(k.value for k in self._faults),
            "metrics": self.metrics.as_dict(),
        }
