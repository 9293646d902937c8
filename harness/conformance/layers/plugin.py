"""pytest plugin: one test per layer check against the user's own layer.

    pytest -p harness.conformance.layers.plugin --channel-layer-backend=my.Layer --channel-layer-config='{...}'

OK, NON-STRICT and INFORMATIONAL pass; N/A and UNIMPLEMENTED skip with the reason; KNOWN DEVIATION is an xfail
(strict=False) carrying the upstream link; FAILED fails with the detail and the quoted spec sentence.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.conformance.layers.checks import CHECKS
from harness.conformance.layers.model import LayerCheckResult
from harness.conformance.layers.runner import run_layer_checks
from harness.conformance.model import Verdict

__all__ = ["LayerCheckItem", "pytest_addoption", "pytest_collection_modifyitems", "pytest_configure"]

_TEST_NAME = "test_channel_layer_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channel-layer", "Channel Layer Specification conformance")
    group.addoption("--channel-layer-backend", help="dotted path of the channel layer class to check")
    group.addoption("--channel-layer-config", default="{}", help="the layer's CONFIG as JSON")
    group.addoption("--channel-layer-slow", action="store_true", help="include slow checks")
    group.addoption("--channel-layer-jobs", type=int, default=1, help="checks run at the same time")


class LayerCheckItem(pytest.Item):
    """One check; its verdict comes from a single session-wide run of the catalogue."""

    def __init__(self, *, check_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_id = check_id

    def runtest(self) -> None:
        _verdict(self.config, self.check_id)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"channel layer check {self.check_id}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "channel_layer_check(id): a Channel Layer Specification check")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = config.getoption("--channel-layer-backend")
    if not backend:
        return
    slow = bool(config.getoption("--channel-layer-slow"))
    for check in CHECKS:
        if check.slow and not slow:
            continue
        item = LayerCheckItem.from_parent(session, name=f"{_TEST_NAME}[{check.id}]", check_id=check.id)
        item.add_marker(pytest.mark.channel_layer_check(check.id))
        items.append(item)


def _results(config: pytest.Config) -> dict[str, LayerCheckResult]:
    # One run for the whole session: checks share nothing, and one event loop keeps Redis pools simple.
    cached: dict[str, LayerCheckResult] | None = getattr(config, "_channel_layer_results", None)
    if cached is None:
        backend = config.getoption("--channel-layer-backend")
        layer_config = json.loads(config.getoption("--channel-layer-config"))
        results = run_layer_checks(
            backend,
            layer_config,
            include_slow=bool(config.getoption("--channel-layer-slow")),
            jobs=int(config.getoption("--channel-layer-jobs")),
        )
        cached = {r.id: r for r in results}
        config._channel_layer_results = cached  # type: ignore[attr-defined]
    return cached


def _verdict(config: pytest.Config, check_id: str) -> None:
    result = _results(config)[check_id]
    where = f"{result.id} {result.title}: {result.detail}"
    if result.verdict in (Verdict.NOT_APPLICABLE, Verdict.UNIMPLEMENTED):
        pytest.skip(f"{result.verdict.value}: {where}")
    if result.verdict is Verdict.KNOWN_DEVIATION:
        pytest.xfail(f"{result.verdict.value} ({result.link}): {where}")
    if result.verdict is Verdict.FAILED:
        pytest.fail(f"FAILED {where}\nspec: {result.spec_quote!r}", pytrace=False)
