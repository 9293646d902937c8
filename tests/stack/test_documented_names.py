"""The names docs/serving.md gives for servers and layers are the registries' names, all of them."""

from __future__ import annotations

import re
from pathlib import Path

from harness.stack.layers import LAYERS
from harness.stack.servers import SERVERS

SERVING = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def _choices(flag: str) -> set[str]:
    match = re.search(re.escape(flag) + r" ([a-z0-9|_-]+)", SERVING.read_text())
    assert match, f"docs/serving.md shows no {flag} choices"
    return set(match.group(1).split("|"))


def test_serving_doc_lists_every_server_and_layer() -> None:
    assert _choices("--server") == set(SERVERS)
    assert _choices("--layer") == set(LAYERS)
