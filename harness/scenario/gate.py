"""A scenario's ``[gate]`` table: how ``harness gate`` measures and judges it (docs/ci.md).

Thresholds and the loss budget are written in per cent, as people say them (``p50 = 10`` is 10 %); the table
holds them as ratios.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from harness.scenario.checker import _Checker, _opt

__all__ = ["GATE_METRICS", "GateTable", "parse_gate"]

#: The metrics a gate judges, with their default threshold (ratio).
GATE_METRICS: Final[Mapping[str, float]] = {"cpu_per_message": 0.10, "p50": 0.10, "p90": 0.15, "p99": 0.15}


@dataclass(frozen=True, slots=True)
class GateTable:
    """How the gate runs the scenario.

    Attributes:
        trial_s: seconds each trial sends (its warm-up and grace come on top).
        metric: the latency metric whose p50/p90/p99 are judged (``response_time``: from the intended send).
        thresholds: per judged metric, the relative slowdown that matters (0.10 = 10 %).
        loss: the candidate's tolerated lost + duplicated share of the expected messages.
        looks: pair counts at which the gate decides; the last one caps a stage.
        alpha: the false-alarm rate of one stage.
    """

    trial_s: float = 6.0
    metric: str = "response_time"
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(GATE_METRICS))
    loss: float = 0.0
    looks: tuple[int, ...] = (8, 12, 16)
    alpha: float = 0.05


def parse_gate(c: _Checker, raw: Any, known_metrics: tuple[str, ...]) -> GateTable:
    t = c.table(raw, "[gate]")
    c.keys(t, "[gate]", (), ("trial_s", "metric", "loss", "looks", "alpha", *GATE_METRICS))
    thresholds = {
        name: c.number(t[name], f"[gate].{name}", minimum=0, inclusive=False) / 100 if name in t else default
        for name, default in GATE_METRICS.items()
    }
    looks: tuple[int, ...] = (8, 12, 16)
    if "looks" in t:
        raw_looks = c.array(t["looks"], "[gate].looks", "increasing pair counts >= 2")
        looks = tuple(c.integer(v, f"[gate].looks[{i}]", minimum=2) for i, v in enumerate(raw_looks))
        if any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
            raise c.expected("[gate].looks", "increasing pair counts >= 2", raw_looks)
    alpha = _opt(t, "alpha", 0.05, lambda v: c.number(v, "[gate].alpha", minimum=0, inclusive=False))
    if alpha >= 0.5:
        raise c.expected("[gate].alpha", "a false-alarm rate in (0, 0.5)", t["alpha"])
    loss = _opt(t, "loss", 0.0, lambda v: c.number(v, "[gate].loss", minimum=0, inclusive=True) / 100)
    if loss >= 1:
        raise c.expected("[gate].loss", "a per-cent budget below 100", t["loss"])
    return GateTable(
        trial_s=_opt(t, "trial_s", 6.0, lambda v: c.number(v, "[gate].trial_s", minimum=1, inclusive=True)),
        metric=_opt(t, "metric", "response_time", lambda v: c.choice(v, "[gate].metric", known_metrics)),
        thresholds=thresholds,
        loss=loss,
        looks=looks,
        alpha=alpha,
    )
