"""Shared fixtures: one time unit, a private redis-server, demo data in the test database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.stack.redis import RedisServer

#: Every wait in the suite is a multiple of this (seconds); raise HARNESS_TEST_TIMEOUT on a slow machine.
TIMEOUT = float(os.environ.get("HARNESS_TEST_TIMEOUT", "5"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port for the whole session (never the one on 6379)."""
    with RedisServer() as server:
        yield server
