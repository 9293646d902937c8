"""Small raw-ASGI WebSocket servers for the Locust generator tests, each runnable with uvicorn.

* ``harness.testing.echo:app``: returns every message to its sender.
* ``harness.testing.broadcast:app``: sends every message to every socket on the same path,
  the sender included.
* ``harness.testing.stalling:app``: an echo that holds every message arriving during a
  periodic stall window (default 1 s every 3 s), for the coordinated-omission test.
* ``harness.testing.known_capacity:app``: an echo that serves at most ``HARNESS_CAPACITY_MSGS`` messages per
  second, one at a time, for validating ``harness capacity``.
* ``harness.testing.lossy:app``: an echo or broadcast that drops, duplicates and reorders
  chosen messages, picked by the envelope seq of their sender, for the accounting tests.

They import neither Django nor the reference app, and serve HTTP requests with 404.
Run one with, for example::

    uvicorn harness.testing.echo:app --port 9000 --lifespan off
"""

from __future__ import annotations

__all__ = ["broadcast", "echo", "known_capacity", "lossy", "stalling"]
