"""Launching the system under test: servers, channel layers, a private Redis, processes and ports.

Nothing here imports the load generator, the measurements or the results: a stack knows how to start and stop the
reference app, not what is measured against it.
"""

from __future__ import annotations

from harness.stack.stack import ASGI_APP, Stack, StackConfig, StackError

__all__ = ["ASGI_APP", "Stack", "StackConfig", "StackError"]
