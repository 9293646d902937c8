"""An echo whose capacity is known by construction, for validating ``harness capacity``.

Every message costs ``1 / HARNESS_CAPACITY_MSGS`` seconds of one server, and messages are served one at a time, so
the server answers at most ``HARNESS_CAPACITY_MSGS`` messages per second; beyond that a queue grows without bound
and the latency with it. ``HARNESS_CAPACITY_MODE`` says what the cost is:

- ``cpu`` (default): busy CPU time on the event loop's thread (``harness.testing.busy``), so the one core the server
  runs on is the limit, as in a real server. The per-message overhead of uvicorn and the WebSocket protocol comes
  on top, so the true capacity is a little below the nominal one (docs/capacity.md gives the figure measured).
- ``wall``: a single queue whose service time is wall time (a sleep until the message's turn), independent of the
  CPU the machine has to spare: the capacity is the nominal one within the event loop's timer resolution.

    HARNESS_CAPACITY_MSGS=200 uvicorn harness.testing.known_capacity:app --port 9000 --lifespan off
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Final

from harness.testing._asgi import echo_app
from harness.testing.busy import busy

__all__ = ["CAPACITY_MSGS", "MODE", "app"]

CAPACITY_MSGS: Final = float(os.environ.get("HARNESS_CAPACITY_MSGS", "200"))
MODE: Final = os.environ.get("HARNESS_CAPACITY_MODE", "cpu")
if CAPACITY_MSGS <= 0 or MODE not in ("cpu", "wall"):
    raise ValueError(
        f"HARNESS_CAPACITY_MSGS={CAPACITY_MSGS:g} and HARNESS_CAPACITY_MODE={MODE!r}: expected a rate above 0 and "
        "mode cpu or wall"
    )
_COST_S: Final = 1.0 / CAPACITY_MSGS
# When the single server is next free, on the monotonic clock; every message books the next slot.
_free_at = 0.0


async def _serve_one() -> None:
    global _free_at
    if MODE == "cpu":
        busy(_COST_S)
        return
    now = time.monotonic()
    _free_at = max(_free_at, now) + _COST_S
    await asyncio.sleep(_free_at - now)


app = echo_app(before_echo=_serve_one)
