"""The gateway process: one supervised client per reader, punches to the timeclock worker channel [D].

Readers are the ``Terminal`` rows, ordered by id; ``--shard i/n`` keeps rows i, i+n, i+2n, ... so several
processes can split a fleet without overlap. Punches go through a queue to a few sender tasks, so a slow or
briefly failing channel layer never stalls the reader connections; a failed send is retried with the same
event (the same ``event_id``), which the worker stores once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from channels.layers import BaseChannelLayer

from eks_emulator.fleet import Shard
from reference_app.gateway.backoff import Backoff, BackoffPolicy
from reference_app.gateway.client import ClientConfig
from reference_app.gateway.stats import GatewayStats, ReaderTarget
from reference_app.gateway.status import StatusServer
from reference_app.gateway.supervisor import ReaderSupervisor
from reference_app.timeclock.events import PunchEvent

__all__ = ["GatewayConfig", "GatewayService", "load_targets", "select_shard"]

logger = logging.getLogger("reference_app.gateway")
status_logger = logging.getLogger("reference_app.gateway.status")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything ``manage.py eks_gateway`` can set; see its ``--help``.

    Args:
        channel: the timeclock worker channel (``settings.TIMECLOCK_CHANNEL``).
        status_port: serve ``GET /status`` and ``GET /readers`` here (None: no endpoint; 0: any free port).
        log_interval_s: log an ``eks-gateway-status {json}`` line this often (0: never).
        max_connecting: connection attempts in flight at once, over all readers of the process.
        senders: tasks sending punches to the channel layer.
    """

    channel: str
    client: ClientConfig = field(default_factory=ClientConfig)
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    shard: Shard = field(default_factory=Shard)
    status_host: str = "127.0.0.1"
    status_port: int | None = None
    log_interval_s: float = 10.0
    max_connecting: int = 100
    senders: int = 4
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.channel:
            raise ValueError("the timeclock channel name is empty; set TIMECLOCK_CHANNEL")
        if self.status_port is not None and not 0 <= self.status_port <= 65535:
            raise ValueError(f"--status-port must be 0-65535, got {self.status_port}")
        if not (math.isfinite(self.log_interval_s) and self.log_interval_s >= 0):
            raise ValueError(f"--log-interval-s must be a number >= 0, got {self.log_interval_s!r}")
        if self.max_connecting < 1:
            raise ValueError(f"--max-connecting must be >= 1, got {self.max_connecting}")
        if self.senders < 1:
            raise ValueError(f"--senders must be >= 1, got {self.senders}")


def select_shard(targets: Iterable[ReaderTarget], shard: Shard) -> list[ReaderTarget]:
    """The readers of ``shard``: every n-th terminal in id order, starting at the i-th."""
    ordered = sorted(targets, key=lambda target: target.terminal_id)
    return ordered[shard.index :: shard.count]


def load_targets(shard: Shard) -> list[ReaderTarget]:
    """The readers of this shard, from the ``Terminal`` table (synchronous: call before the event loop)."""
    from reference_app.timeclock.models import Terminal

    rows = Terminal.objects.order_by("pk").values_list("pk", "name", "reader_host", "reader_port")
    return select_shard((ReaderTarget(pk, name, host, port) for pk, name, host, port in rows), shard)


class GatewayService:
    """Runs the supervisors, the punch senders, the status endpoint and the status log line."""

    def __init__(self, targets: Iterable[ReaderTarget], config: GatewayConfig, channel_layer: BaseChannelLayer) -> None:
        self.config = config
        self.layer = channel_layer
        self.stats = GatewayStats(shard=str(config.shard))
        self.targets = list(targets)
        self._queue: asyncio.Queue[PunchEvent] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._status: StatusServer | None = None
        self.supervisors: list[ReaderSupervisor] = []

    @property
    def status_port(self) -> int | None:
        return self._status.port if self._status is not None else None

    def submit(self, event: PunchEvent) -> None:
        self._queue.put_nowait(event)

    async def start(self) -> None:
        rng = random.Random(self.config.seed)
        slots = asyncio.Semaphore(self.config.max_connecting)
        for _ in range(self.config.senders):
            self._spawn(self._send_punches(random.Random(rng.random())))
        for target in self.targets:
            supervisor = ReaderSupervisor(
                target,
                self.config.client,
                self.config.backoff,
                self.submit,
                self.stats,
                connect_slots=slots,
                rng=random.Random(rng.random()),
            )
            self.supervisors.append(supervisor)
            self._spawn(supervisor.run())
        if self.config.status_port is not None:
            self._status = StatusServer(self.stats, self.config.status_host, self.config.status_port)
            await self._status.start()
        if self.config.log_interval_s > 0:
            self._spawn(self._log_status())
        logger.info(
            "eks gateway: %d readers (shard %s), status endpoint %s",
            len(self.targets),
            self.config.shard,
            f"http://{self.config.status_host}:{self.status_port}/status" if self._status else "off",
        )

    async def stop(self) -> None:
        if self._status is not None:
            await self._status.stop()
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not self._queue.empty():
            logger.warning("eks gateway stopped with %d punches not yet sent", self._queue.qsize())
        self.log_status()

    async def wait_connected(self, count: int | None = None, timeout: float = 10.0) -> None:
        """Wait until ``count`` (default: all) readers are connected; TimeoutError names the shortfall."""
        wanted = len(self.targets) if count is None else count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.stats.connected < wanted:
            if loop.time() >= deadline:
                raise TimeoutError(f"{self.stats.connected} of {wanted} readers connected after {timeout} s")
            await asyncio.sleep(0.01)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A supervisor or sender must never end; if one does it is a gateway bug, so say so loudly.
            logger.error("eks gateway task died", exc_info=task.exception())
            self.stats.error("internal")

    async def _send_punches(self, rng: random.Random) -> None:
        while True:
            event = await self._queue.get()
            backoff = Backoff(BackoffPolicy(base_s=0.05, max_s=2.0), rng)
            while True:
                try:
                    await self.layer.send(self.config.channel, event.as_message())
                except Exception as exc:
                    # Whatever the layer raises (ChannelFull, Redis down), the punch must not be dropped.
                    self.stats.error("send_failed")
                    logger.warning("punch %s not sent (%s: %s); retrying", event.event_id, type(exc).__name__, exc)
                    await asyncio.sleep(backoff.next_delay())
                    continue
                self.stats.count("punches_sent")
                break

    def log_status(self) -> None:
        status_logger.info("eks-gateway-status %s", json.dumps(self.stats.snapshot(), sort_keys=True))

    async def _log_status(self) -> None:
        while True:
            await asyncio.sleep(self.config.log_interval_s)
            self.log_status()
