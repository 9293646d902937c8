"""The capacity tests start the generator's test servers the way the generator's own tests do."""

from __future__ import annotations

from tests.locust.conftest import serve

__all__ = ["serve"]
