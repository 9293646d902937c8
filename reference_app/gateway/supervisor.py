"""Keeps one reader connected: session after session, with full-jitter backoff between them [D].

The policy (docs/eks.md#reconnect-policy): a session that stayed up for a whole heartbeat period and reported
a key state counts as healthy and resets the backoff, so the first retry after a long good connection comes
within ``base_s``. Every other ending (connect refused or timed out, garbage, ``RF 61``, a reader that drops
the connection at once) counts as a failure and doubles the ceiling, up to ``max_s``. A reader that comes
back after a reboot is therefore reconnected at most ``max_s`` (plus one connect) after it listens again.
"""

from __future__ import annotations

import asyncio
import logging
import random

from reference_app.gateway.backoff import Backoff, BackoffPolicy
from reference_app.gateway.client import (
    ClientConfig,
    KeySink,
    PunchSink,
    ReaderMemory,
    ReaderSession,
    SessionResult,
)
from reference_app.gateway.stats import GatewayStats, ReaderState, ReaderTarget

__all__ = ["ReaderSupervisor"]

logger = logging.getLogger("reference_app.gateway")


class ReaderSupervisor:
    """Runs ``ReaderSession``s for one reader until cancelled.

    Args:
        connect_slots: shared by all readers of a process, so a start-up or a mass reconnect opens at most
            that many connections at a time.
        memory: the reader's last key from the punch journal (default: none known).
        key_sink: told when the last key changes without a punch (the journal records it).
    """

    def __init__(
        self,
        target: ReaderTarget,
        config: ClientConfig,
        policy: BackoffPolicy,
        sink: PunchSink,
        stats: GatewayStats,
        *,
        connect_slots: asyncio.Semaphore,
        rng: random.Random | None = None,
        memory: ReaderMemory | None = None,
        key_sink: KeySink | None = None,
    ) -> None:
        self.target = target
        self.config = config
        self.sink = sink
        self.stats = stats
        self.state: ReaderState = stats.add_reader(target)
        # A memory restored from the punch journal makes a key found still in after a gateway restart no new insert.
        self.memory = memory if memory is not None else ReaderMemory()
        self.key_sink = key_sink
        self.backoff = Backoff(policy, rng)
        self._connect_slots = connect_slots

    async def run(self) -> None:
        first = True
        while True:
            session = ReaderSession(
                self.target, self.config, self.memory, self.sink, self.stats, self.state, self.key_sink
            )
            if not first:
                self.stats.count("reconnects")
            first = False
            async with self._connect_slots:
                result = await session.connect()
            if result is None:
                result = await session.converse()
            self._after(result)
            if result.healthy:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            self.state.failures = self.backoff.failures
            await asyncio.sleep(delay)

    def _after(self, result: SessionResult) -> None:
        self.state.last_end = result.reason.value
        self.state.last_detail = result.detail
        level = logging.INFO if result.connected else logging.DEBUG
        logger.log(
            level,
            "reader %s (%s:%s): %s: %s",
            self.target.name,
            self.target.host,
            self.target.port,
            result.reason.value,
            result.detail,
        )
