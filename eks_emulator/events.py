"""The key-event journal: every insert and remove, stamped so a harness can measure latency [D].

Each event carries a unique id, ``time.monotonic_ns()`` (CLOCK_MONOTONIC, comparable between processes on
one Linux host) and the wall-clock time. Events are kept in memory (bounded), passed to subscribers and,
if configured, appended to a JSONL file, one object per line, flushed per line so it can be tailed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .key import Key, KeyAction

__all__ = ["EventJournal", "KeyEvent", "Subscriber"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One insert or remove.

    ``pushed`` is True when an ``Ek`` frame announcing it was written to a connected client; an insert with
    ``pushed`` False can only be seen by a client that connects (or polls) later.
    """

    event_id: str
    seq: int
    action: KeyAction
    device_id: int
    key_id: str
    source: str
    pushed: bool
    monotonic_ns: int
    wall_time_ns: int

    def to_dict(self) -> dict[str, object]:
        wall = datetime.fromtimestamp(self.wall_time_ns / 1e9, tz=UTC)
        return {
            "event_id": self.event_id,
            "seq": self.seq,
            "action": self.action.value,
            "device_id": self.device_id,
            "key_id": self.key_id,
            "source": self.source,
            "pushed": self.pushed,
            "monotonic_ns": self.monotonic_ns,
            "wall_time_ns": self.wall_time_ns,
            "wall_time": wall.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }


Subscriber = Callable[[KeyEvent], None]


class EventJournal:
    """Stamps, keeps and publishes key events.

    Args:
        log_path: append events as JSONL here (None: no file).
        keep: how many recent events to keep in memory for ``events()``.
        run_id: prefix of every event id (default: random), so ids from several processes never collide.
    """

    def __init__(self, log_path: Path | None = None, *, keep: int = 100_000, run_id: str | None = None) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._events: deque[KeyEvent] = deque(maxlen=keep)
        self._seq = 0
        self._subscribers: list[Subscriber] = []
        self._file: TextIO | None = log_path.open("a", encoding="utf-8") if log_path is not None else None
        self.counts = {action: 0 for action in KeyAction}

    def record(self, device_id: int, action: KeyAction, key: Key, source: str, pushed: bool) -> KeyEvent:
        self._seq += 1
        event = KeyEvent(
            event_id=f"{self.run_id}-{self._seq}",
            seq=self._seq,
            action=action,
            device_id=device_id,
            key_id=key.id,
            source=source,
            pushed=pushed,
            monotonic_ns=time.monotonic_ns(),
            wall_time_ns=time.time_ns(),
        )
        self._events.append(event)
        self.counts[action] += 1
        if self._file is not None:
            self._file.write(json.dumps(event.to_dict(), sort_keys=True) + "\n")
            self._file.flush()
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception("event subscriber failed")
        return event

    def events(self, *, since_seq: int = 0, action: KeyAction | None = None) -> list[KeyEvent]:
        """Kept events with ``seq > since_seq``, optionally only one action, oldest first."""
        return [e for e in self._events if e.seq > since_seq and (action is None or e.action is action)]

    @property
    def last(self) -> KeyEvent | None:
        return self._events[-1] if self._events else None

    def inserts(self, since_seq: int = 0) -> list[KeyEvent]:
        return self.events(since_seq=since_seq, action=KeyAction.INSERT)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` for every new event; returns a function that unsubscribes it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
