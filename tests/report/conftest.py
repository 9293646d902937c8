"""Fixtures for scenario, SLO, result and report tests: a valid scenario text and synthetic measured cells."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

VALID_SCENARIO = """\
name = "tiny"
description = "A small chat scenario for tests."
kind = "chat"
duration_s = 10
seed = 3

[matrix]
servers = ["daphne"]
layers = ["inmemory"]
workers = [1]

[load]
users = 10
spawn_rate = 5
rate = 2
room_size = 5

[[slos]]
metric = "fanout"
statistic = "p99"
limit_ms = 250

[[slos]]
max_lost_ratio = 0
"""


@pytest.fixture
def valid_scenario_text() -> str:
    return VALID_SCENARIO


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``<tmp>/<name>.toml`` and return the path."""

    def write(text: str, name: str = "tiny") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def rng() -> random.Random:
    return random.Random(5)
