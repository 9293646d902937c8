"""An echo that spends a fixed amount of CPU on every message before answering it.

``HARNESS_BUSY_US`` (default 300) microseconds of busy work per message: two of these servers with different
values are a baseline and a candidate whose per-message service time differs by a known ratio, for the gate's
tests and demonstrations (``uvicorn harness.testing.busy:app``).
"""

from __future__ import annotations

import os
import time

from harness.testing._asgi import echo_app

__all__ = ["BUSY_US", "app", "busy"]

BUSY_US = float(os.environ.get("HARNESS_BUSY_US", "300"))


def busy(seconds: float) -> None:
    """Keep the CPU busy for ``seconds`` of this thread's CPU time (not wall time: a descheduled server still owes
    its work)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def _work() -> None:
    busy(BUSY_US / 1e6)


app = echo_app(before_echo=_work)
