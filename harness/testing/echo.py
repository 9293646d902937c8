"""Echo: every message goes back to the socket that sent it, unchanged."""

from __future__ import annotations

from harness.testing._asgi import echo_app

__all__ = ["app"]

app = echo_app()
