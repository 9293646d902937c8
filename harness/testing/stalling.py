"""An echo that stalls periodically, so a closed-loop sender is held back as by a slow server.

Every ``HARNESS_STALL_EVERY_S`` seconds (default 3) since the server started, the last
``HARNESS_STALL_S`` seconds (default 1) of the period are a stall: a message arriving inside the
window is echoed only when the window ends. Outside the window the server is a plain echo.
"""

from __future__ import annotations

import asyncio
import os
import time

from harness.testing._asgi import echo_app

__all__ = ["STALL_EVERY_S", "STALL_S", "app", "stall_remaining"]

STALL_EVERY_S = float(os.environ.get("HARNESS_STALL_EVERY_S", "3.0"))
STALL_S = float(os.environ.get("HARNESS_STALL_S", "1.0"))
_STARTED = time.monotonic()


def stall_remaining(now: float) -> float:
    """Seconds left in the stall window at monotonic time ``now`` (0 outside it)."""
    phase = (now - _STARTED) % STALL_EVERY_S
    start = STALL_EVERY_S - STALL_S
    return STALL_EVERY_S - phase if phase >= start else 0.0


async def _stall() -> None:
    wait = stall_remaining(time.monotonic())
    if wait:
        await asyncio.sleep(wait)


app = echo_app(_stall)
