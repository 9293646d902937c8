"""N emulated readers in one process, on distinct ports, started at a bounded rate [D].

Device ids are global: with ``--shard i/n`` a process runs devices i, i+n, i+2n, ... of one fleet, and a
device's port is ``base_port + id`` in every process, so shards never collide and a gateway can be given
one address list for the whole fleet. All scheduled events (workload, scheduled faults) go through one
``Timeline``.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from .device import DEFAULT_SERVICE_TIME, EmulatedDevice
from .events import EventJournal
from .faults import Fault, select_fraction
from .key import Key, KeyAction
from .service_time import ServiceTime
from .timeline import Timeline
from .workload import WorkloadEvent

__all__ = [
    "FDS_PER_DEVICE",
    "FD_HEADROOM",
    "Fleet",
    "FleetConfig",
    "FleetError",
    "FleetTooLarge",
    "Shard",
    "check_fd_budget",
    "fd_limits",
]

logger = logging.getLogger(__name__)

# A listener and one client socket per device; rejected second clients and re-listens are short-lived.
FDS_PER_DEVICE = 2
# stdio, the event loop's selector and self-pipe, the control endpoint and its clients, the events log.
FD_HEADROOM = 64
MAX_PORT = 65535


class FleetError(RuntimeError):
    """The fleet cannot start as configured; the message says why and what to change."""


class FleetTooLarge(FleetError):
    """RLIMIT_NOFILE is too low for the requested number of devices."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count``: the devices whose id modulo ``count`` is ``index``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard must be i/n with 0 <= i < n, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        try:
            if not sep:
                raise ValueError
            return cls(int(index), int(count))
        except ValueError as exc:
            detail = str(exc) or f"shard must look like i/n (e.g. 0/4), got {text!r}"
            raise ValueError(detail) from None

    def device_ids(self, total: int) -> range:
        return range(self.index, total, self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def fd_limits() -> tuple[int, int]:
    """The (soft, hard) RLIMIT_NOFILE of this process; RLIM_INFINITY is reported as a large number."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    return (2**31 if soft == infinite else soft, 2**31 if hard == infinite else hard)


def check_fd_budget(devices: int) -> int:
    """Make sure this process may open enough file descriptors for ``devices`` readers.

    Raises the soft limit up to the hard limit when that suffices (an unprivileged process may);
    otherwise raises ``FleetTooLarge``. Returns the number of descriptors budgeted.
    """
    needed = devices * FDS_PER_DEVICE + FD_HEADROOM
    soft, hard = fd_limits()
    if needed <= soft:
        return needed
    if needed <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        logger.info("raised the open-file limit from %d to %d", soft, needed)
        return needed
    raise FleetTooLarge(
        f"{devices} devices need about {needed} open files ({FDS_PER_DEVICE} per device for the listener and "
        f"its client, plus {FD_HEADROOM} spare), but this process may open only {soft} "
        f"(RLIMIT_NOFILE soft {soft}, hard {hard}). Raise the limit in the shell that starts the emulator, "
        f"e.g. `ulimit -n {needed}` (beyond the hard limit needs root or /etc/security/limits.conf), "
        f"or split the fleet over processes with --shard i/n."
    )


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """How to run a fleet.

    Args:
        devices: the size of the whole fleet (all shards together).
        host: address every device listens on.
        base_port: device i listens on ``base_port + i``; 0 lets the OS choose a port for each device.
        shard: which devices this process runs.
        start_rate: devices started per second at most (0: no limit).
        push_on_accept: passed to every device.
        service_time: reply delay distribution of every device.
        seed: seeds devices, workloads and fault selection.
    """

    devices: int
    host: str = "127.0.0.1"
    base_port: int = 2444
    shard: Shard = field(default_factory=Shard)
    start_rate: float = 1000.0
    push_on_accept: bool = True
    service_time: ServiceTime = DEFAULT_SERVICE_TIME
    seed: int | str = 0

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise ValueError(f"devices must be >= 1, got {self.devices}")
        if self.start_rate < 0:
            raise ValueError(f"start_rate must be >= 0, got {self.start_rate}")
        if self.base_port != 0 and not (1 <= self.base_port and self.base_port + self.devices - 1 <= MAX_PORT):
            raise ValueError(
                f"ports {self.base_port}..{self.base_port + self.devices - 1} do not fit in 1..{MAX_PORT}; "
                f"lower the base port or use base port 0 (OS-assigned ports)"
            )


def _insert_serial(device: EmulatedDevice, serial: bytes) -> None:
    device.insert(Key(serial), source="workload")


class Fleet:
    """The devices of one shard, their shared timeline and the key-event journal."""

    def __init__(self, config: FleetConfig, journal: EventJournal | None = None) -> None:
        self.config = config
        self.journal = journal if journal is not None else EventJournal()
        self.timeline = Timeline()
        self.devices: dict[int, EmulatedDevice] = {
            device_id: EmulatedDevice(
                device_id,
                host=config.host,
                port=0 if config.base_port == 0 else config.base_port + device_id,
                push_on_accept=config.push_on_accept,
                service_time=config.service_time,
                seed=config.seed,
                observer=self._observe,
            )
            for device_id in config.shard.device_ids(config.devices)
        }
        self._started: list[EmulatedDevice] = []

    def _observe(self, device: EmulatedDevice, action: KeyAction, key: Key, source: str, pushed: bool) -> None:
        self.journal.record(device.device_id, action, key, source, pushed)

    def device(self, device_id: int) -> EmulatedDevice:
        """The local device with this id; raises KeyError naming the shard if it is not run here."""
        try:
            return self.devices[device_id]
        except KeyError:
            raise KeyError(
                f"device {device_id} is not in this process (fleet of {self.config.devices}, shard {self.config.shard})"
            ) from None

    @property
    def started_count(self) -> int:
        return len(self._started)

    async def start(self) -> None:
        """Check the descriptor budget, then start the devices at no more than ``start_rate`` per second.

        Raises ``FleetTooLarge`` before opening anything, or ``FleetError`` naming the port that could not be
        bound (after stopping the devices already started).
        """
        check_fd_budget(len(self.devices))
        loop = asyncio.get_running_loop()
        began = loop.time()
        for index, device in enumerate(self.devices.values()):
            if self.config.start_rate > 0:
                due = began + index / self.config.start_rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            try:
                await device.start()
            except OSError as exc:
                await self.stop()
                raise FleetError(
                    f"device {device.device_id} cannot listen on {device.host}:{device.port}: "
                    f"{exc.strerror}; is another emulator or service using it? Choose another --base-port."
                ) from exc
            self._started.append(device)
        self.timeline.start()

    async def stop(self) -> None:
        self.timeline.close()
        started, self._started = self._started, []
        await asyncio.gather(*(device.stop() for device in started))

    def schedule(self, events: Iterable[WorkloadEvent]) -> int:
        """Put the workload events of local devices on the timeline; returns how many were scheduled."""
        count = 0
        for event in events:
            device = self.devices.get(event.device_id)
            if device is None:
                continue
            if event.action is KeyAction.INSERT:
                self.timeline.at(event.time_s, partial(_insert_serial, device, event.serial))
            else:
                self.timeline.at(event.time_s, partial(device.remove, source="workload"))
            count += 1
        return count

    def schedule_fault(self, at_s: float, device_ids: Iterable[int], fault: Fault) -> None:
        """Inject ``fault`` into the given local devices ``at_s`` seconds after the fleet started."""
        for device_id in device_ids:
            device = self.device(device_id)
            self.timeline.at(at_s, partial(device.inject, fault))

    def select(self, fraction: float, seed: int | str | None = None) -> list[int]:
        """A seeded sample of ``fraction`` of the whole fleet, restricted to the local devices.

        Sampling the global ids (not the local ones) makes shards agree on which devices are affected.
        """
        chosen = select_fraction(range(self.config.devices), fraction, self.config.seed if seed is None else seed)
        return [device_id for device_id in chosen if device_id in self.devices]

    def status(self) -> dict[str, int]:
        """Counters for the progress line and ``GET /metrics``."""
        devices = self.devices.values()
        return {
            "devices": len(self.devices),
            "devices_up": sum(1 for d in devices if d.listening),
            "clients": sum(1 for d in devices if d.client_connected),
            "keys_in": sum(1 for d in devices if d.key is not None),
            "events_sent": sum(d.metrics.pushes for d in devices),
            "replies_sent": sum(d.metrics.replies for d in devices),
            "faults_active": sum(len(d.faults) for d in devices),
            "inserts": self.journal.counts[KeyAction.INSERT],
            "removes": self.journal.counts[KeyAction.REMOVE],
            "timeline_pending": len(self.timeline),
        }
