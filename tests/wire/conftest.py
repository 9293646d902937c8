from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack, StackConfig

SERVERS = ("daphne", "uvicorn")
LAYERS = ("inmemory", "redis", "redis-pubsub")


@pytest.fixture(
    scope="module",
    params=[pytest.param((s, layer), id=f"{s}-{layer}") for s in SERVERS for layer in LAYERS],
)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One real stack per server x layer cell: its own Redis (when the layer needs one), database and processes."""
    server, layer = request.param
    run_dir: Path = tmp_path_factory.mktemp(f"{server}-{layer}")
    with Stack(StackConfig(server=server, layer=layer, users=6, rooms=3, employees=4, terminals=2), run_dir) as s:
        yield s
