"""Fixtures for the layer conformance tests: Redis layer configs on the session's private redis-server."""

from __future__ import annotations

from typing import Any

import pytest

from harness.stack.layers import LAYERS
from harness.stack.redis import RedisServer


@pytest.fixture(scope="session")
def redis_core_config(redis_server: RedisServer) -> dict[str, Any]:
    # The registry's builder carries the 30 s socket_timeout the Redis layers need (see harness/stack/layers.py).
    return LAYERS["redis"].config(redis_server.url)


@pytest.fixture(scope="session")
def redis_pubsub_config(redis_server: RedisServer) -> dict[str, Any]:
    return LAYERS["redis-pubsub"].config(redis_server.url)
