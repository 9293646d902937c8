"""Channel Layer Specification conformance checks, runnable against any channel-layer BACKEND path."""

from __future__ import annotations

__all__: list[str] = []
