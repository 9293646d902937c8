"""The gateway process: one supervised client per reader, punches to the timeclock worker channel [D].

Readers are the ``Terminal`` rows, ordered by id; ``--shard i/n`` keeps rows i, i+n, i+2n, ... so several
processes can split a fleet without overlap. Punches go through a queue to a few sender tasks, so a slow or
briefly failing channel layer never stalls the reader connections.

A punch is acknowledged end to end (docs/eks.md#end-to-end-acknowledgement): it is written to the punch journal
before it is queued, sent with the gateway's reply channel, and kept until the worker answers ``punch.ack`` for
its event id (stored, or a replay it ignored). A send that fails, or an ack that does not come within
``ack_timeout_s`` (the message was lost with a Redis restart, or the worker died holding it), sends the same event
again, with the same ``event_id``, which the worker stores once. A restarted gateway sends again whatever its
journal holds unacknowledged.

The journal is written (and fsynced) on a thread of its own, in order, never on the event loop: a reader must be
answered within a key's dwell (0.3 s and up), and an fsync on a busy disk took up to half a second in a chaos run
here. A punch is queued for sending once its journal line is on disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import random
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.layers import BaseChannelLayer

from eks_emulator.fleet import Shard
from reference_app.gateway.backoff import Backoff, BackoffPolicy
from reference_app.gateway.client import ClientConfig, ReaderMemory
from reference_app.gateway.journal import PunchJournal
from reference_app.gateway.stats import GatewayStats, ReaderTarget
from reference_app.gateway.status import StatusServer
from reference_app.gateway.supervisor import ReaderSupervisor
from reference_app.timeclock.events import ACK_TYPE, PunchEvent

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
        journal: the punch journal file (None: punches are kept in memory only, and a gateway restart loses
            the unacknowledged ones).
        journal_fsync: fsync each journal write (a power loss keeps it too).
        ack_timeout_s: send a punch again when the worker has not acknowledged it this long after the send; the
            wait doubles per attempt up to ``ack_max_s``.
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
    journal: Path | None = None
    journal_fsync: bool = True
    ack_timeout_s: float = 5.0
    ack_max_s: float = 30.0

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
        if not (math.isfinite(self.ack_timeout_s) and self.ack_timeout_s > 0):
            raise ValueError(f"--ack-timeout-s must be a number > 0 seconds, got {self.ack_timeout_s!r}")
        if not (math.isfinite(self.ack_max_s) and self.ack_max_s >= self.ack_timeout_s):
            raise ValueError(f"--ack-max-s must be a number >= --ack-timeout-s, got {self.ack_max_s!r}")


@dataclass(slots=True)
class _Pending:
    """A punch sent, or about to be, and not yet acknowledged."""

    event: PunchEvent
    attempts: int = 0
    #: When to send it again (loop time); None while it waits in the queue for a sender.
    resend_at: float | None = None


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
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: dict[str, _Pending] = {}
        self._journal = PunchJournal(config.journal, fsync=config.journal_fsync) if config.journal else None
        # One thread: the journal's writes keep their order, and only that thread touches the journal once started.
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.reply_channel: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._status: StatusServer | None = None
        self.supervisors: list[ReaderSupervisor] = []

    @property
    def status_port(self) -> int | None:
        return self._status.port if self._status is not None else None

    @property
    def pending(self) -> int:
        """Punches not yet acknowledged by the worker."""
        return len(self._pending)

    def submit(self, event: PunchEvent) -> None:
        """Take a new punch: pending at once, sent once its journal line is on disk, so a kill from then on cannot
        lose it."""
        self._pending[event.event_id] = _Pending(event)
        self.stats.gauge("punches_pending", len(self._pending))
        if self._writer is None or self._journal is None:
            self._queue.put_nowait(event.event_id)
            return
        written = self._writer.submit(self._journal.punched, event)
        written.add_done_callback(lambda done: self._from_writer(self._punch_journaled, event.event_id, done))

    def key_changed(self, reader: int, serial: str, present: bool) -> None:
        if self._writer is not None and self._journal is not None:
            written = self._writer.submit(self._journal.key_changed, reader, serial, present)
            written.add_done_callback(lambda done: self._from_writer(self._journal_checked, "a key change", done))

    def _from_writer(
        self,
        then: Callable[[str, concurrent.futures.Future[None]], None],
        subject: str,
        done: concurrent.futures.Future[None],
    ) -> None:
        """Called on the writer thread: hand the outcome of a journal write back to the event loop."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(then, subject, done)
        except RuntimeError:
            pass  # the loop is closed: the gateway is gone, and a restart reads the journal again

    def _journal_checked(self, subject: str, done: concurrent.futures.Future[None]) -> None:
        if (exc := done.exception()) is not None:
            # The punch path goes on; what the journal missed is lost only if the gateway restarts before the ack.
            self.stats.error("journal_write_failed")
            logger.error("punch journal: %s could not be written (%s: %s)", subject, type(exc).__name__, exc)

    def _punch_journaled(self, event_id: str, done: concurrent.futures.Future[None]) -> None:
        self._journal_checked(f"punch {event_id}", done)
        if event_id in self._pending:
            self._queue.put_nowait(event_id)

    def _enqueue(self, event: PunchEvent) -> None:
        self._pending[event.event_id] = _Pending(event)
        self.stats.gauge("punches_pending", len(self._pending))
        self._queue.put_nowait(event.event_id)

    def _memories(self) -> dict[int, ReaderMemory]:
        """Each reader's last key, and the queue refilled with the punches the journal holds unacknowledged."""
        if self._journal is None:
            return {}
        state = self._journal.open()
        if self._journal.dropped_torn_line:
            logger.warning("punch journal %s: a last line cut short by a kill was dropped", self._journal.path)
            self.stats.error("journal_torn_line")
        for event in list(state.pending.values()):
            self.stats.count("punches_recovered")
            self._enqueue(event)
        if state.pending:
            logger.info("punch journal %s: sending %d unacknowledged punches again", self._journal.path, self.pending)
        return {reader: ReaderMemory(key.serial, key.present) for reader, key in state.keys.items()}

    async def start(self) -> None:
        rng = random.Random(self.config.seed)
        slots = asyncio.Semaphore(self.config.max_connecting)
        memories = self._memories()
        self._loop = asyncio.get_running_loop()
        if self._journal is not None:
            self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="punch-journal")
        self.reply_channel = await self.layer.new_channel("eks-gateway.")
        self._spawn(self._receive_acks())
        self._spawn(self._resend_unacknowledged())
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
                memory=memories.get(target.terminal_id),
                key_sink=self.key_changed,
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
        if self._pending:
            kept = f"kept in {self._journal.path}" if self._journal else "LOST: no --journal"
            logger.warning("eks gateway stopped with %d punches not acknowledged (%s)", self.pending, kept)
        if self._writer is not None:
            # Every write asked for lands before the file is closed.
            writer, self._writer = self._writer, None
            await asyncio.get_running_loop().run_in_executor(None, writer.shutdown)
        if self._journal is not None:
            self._journal.close()
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
        loop = asyncio.get_running_loop()
        while True:
            event_id = await self._queue.get()
            backoff = Backoff(BackoffPolicy(base_s=0.05, max_s=2.0), rng)
            while (pending := self._pending.get(event_id)) is not None:
                message = {**pending.event.as_message(), "reply_channel": self.reply_channel}
                try:
                    await self.layer.send(self.config.channel, message)
                except Exception as exc:
                    # Whatever the layer raises (ChannelFull, Redis down), the punch must not be dropped.
                    self.stats.error("send_failed")
                    logger.warning("punch %s not sent (%s: %s); retrying", event_id, type(exc).__name__, exc)
                    await asyncio.sleep(backoff.next_delay())
                    continue
                pending.attempts += 1
                wait = min(self.config.ack_timeout_s * 2 ** (pending.attempts - 1), self.config.ack_max_s)
                pending.resend_at = loop.time() + wait
                self.stats.count("punches_sent" if pending.attempts == 1 else "punches_resent")
                break

    async def _resend_unacknowledged(self) -> None:
        loop = asyncio.get_running_loop()
        # A fraction of the time-out: a resend is late by at most that much.
        tick = min(0.5, self.config.ack_timeout_s / 4)
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for event_id, pending in self._pending.items():
                if pending.resend_at is not None and now >= pending.resend_at:
                    pending.resend_at = None
                    self.stats.count("ack_timeouts")
                    self._queue.put_nowait(event_id)

    async def _receive_acks(self) -> None:
        assert self.reply_channel is not None
        backoff = Backoff(BackoffPolicy(base_s=0.05, max_s=2.0), random.Random(self.config.seed))
        while True:
            try:
                message = await self.layer.receive(self.reply_channel)
            except Exception as exc:
                # Redis down: the unacknowledged punches wait (and are sent again); keep listening once it is back.
                self.stats.error("ack_receive_failed")
                logger.warning("acks not received (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self._on_ack(message)

    def _on_ack(self, message: Mapping[str, Any]) -> None:
        event_id, outcome = message.get("event_id"), message.get("outcome")
        if message.get("type") != ACK_TYPE or not isinstance(event_id, str) or not isinstance(outcome, str):
            self.stats.error("bad_ack")
            logger.warning("not a punch acknowledgement on the reply channel: %r", message)
            return
        if self._pending.pop(event_id, None) is None:
            # The answer to a resend whose first send was acknowledged already.
            self.stats.count("acks_repeated")
            return
        if self._writer is not None and self._journal is not None:
            written = self._writer.submit(self._journal.acked, event_id, outcome)
            written.add_done_callback(lambda done: self._from_writer(self._journal_checked, f"ack {event_id}", done))
        self.stats.count("punches_acked")
        self.stats.count(f"ack.{outcome}")
        self.stats.gauge("punches_pending", len(self._pending))

    def log_status(self) -> None:
        status_logger.info("eks-gateway-status %s", json.dumps(self.stats.snapshot(), sort_keys=True))

    async def _log_status(self) -> None:
        while True:
            await asyncio.sleep(self.config.log_interval_s)
            self.log_status()
