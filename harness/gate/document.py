"""``gate.json``: a gate's every trial, look and verdict, validated against ``results/schema/gate-v1.json``.

Format history (the file outlives the code that wrote it):

* version 1: first version.

Exit codes are part of the document (``exit_code``) so a re-judged run and the original agree on what CI saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from harness.gate.decision import GatePlan, Judgement, MetricRule, Sequential, Verdict
from harness.gate.trial import Disturbance, Trial
from harness.measure.fingerprint import Fingerprint
from harness.results.schemas import check_document, read_document

__all__ = [
    "EXIT_CODES",
    "GATE_FILE",
    "GATE_SCHEMA_VERSION",
    "GateDocumentError",
    "build_gate_document",
    "exit_code",
    "read_gate_document",
    "recorded_judging",
    "validate_gate_document",
]

GATE_SCHEMA_VERSION: Final = 1
GATE_FILE: Final = "gate.json"
#: What CI sees: 0 no regression, 3 regression, 4 inconclusive (0 with ``--inconclusive pass``); 1 the gate
#: failed, 2 usage.
EXIT_CODES: Final = {Verdict.NO_REGRESSION: 0, Verdict.REGRESSION: 3, Verdict.INCONCLUSIVE: 4}


class GateDocumentError(ValueError):
    """A gate.json that cannot be read or does not follow its schema."""


def exit_code(verdict: Verdict, *, inconclusive_passes: bool = False) -> int:
    if verdict is Verdict.INCONCLUSIVE and inconclusive_passes:
        return 0
    return EXIT_CODES[verdict]


def _finite(value: float) -> float | None:
    """JSON has no infinity: an unbounded confidence bound is written as null."""
    return value if math.isfinite(value) else None


def _judgement(j: Judgement) -> dict[str, Any]:
    return {
        "metric": j.metric,
        "pairs": j.pairs,
        "verdict": j.verdict.value,
        "hard": j.hard,
        "ratio": j.ratio,
        "lower": _finite(j.lower),
        "upper": _finite(j.upper),
        "p_value": j.p_value,
        "alpha": j.alpha,
        "beta": j.beta,
        "mde": j.mde,
        "threshold": j.threshold,
        "floor": j.floor,
        "reason": j.reason,
    }


def build_gate_document(
    *,
    gate_id: str,
    scenario: Mapping[str, Any],
    metric: str,
    trial_s: float,
    arms: Mapping[str, Mapping[str, Any]],
    plan: GatePlan,
    rules: Sequence[MetricRule],
    loss_budget: float,
    sequential: Sequential,
    trials: Sequence[Trial],
    first_arm: str,
    seed: int,
    disturbance: Disturbance,
    reruns: int,
    wall_s: float,
    fingerprint: Fingerprint,
    inconclusive_passes: bool,
    notes: Sequence[str] = (),
    rejudged_from: Sequence[str] = (),
) -> dict[str, Any]:
    """The gate document; raises :class:`GateDocumentError` if it would not validate (a bug, never written)."""
    if sequential.final is None:
        raise GateDocumentError("the gate has not decided: a document needs its verdict")
    doc: dict[str, Any] = {
        "schema_version": GATE_SCHEMA_VERSION,
        "gate_id": gate_id,
        "scenario": dict(scenario),
        "arms": {name: dict(arm) for name, arm in arms.items()},
        "plan": {
            "looks": list(plan.looks),
            "alpha": plan.alpha,
            "beta": plan.beta,
            "power": plan.power,
            "confirm": plan.confirm,
            "loss_budget": loss_budget,
            "metric": metric,
            "trial_s": trial_s,
            "first_arm": first_arm,
            "seed": seed,
            "order": "ABBA: pairs alternate which arm runs first, starting with first_arm",
            "disturbance": {"steal_percent": disturbance.steal_percent, "hiccup_ms": disturbance.hiccup_ms},
            "inconclusive_passes": inconclusive_passes,
        },
        "rules": [
            {"metric": r.metric, "threshold": r.threshold, "floor": r.effective_floor, "hard": r.hard} for r in rules
        ],
        "trials": [t.to_dict() for t in trials],
        "reruns": reruns,
        "looks": [
            {"stage": stage, "pairs": max((j.pairs for j in js), default=0), "judgements": [_judgement(j) for j in js]}
            for stage, js in sequential.looks
        ],
        "stages": [
            {
                "verdict": s.verdict.value,
                "pairs": s.pairs,
                "regressed": list(s.regressed),
                "judgements": [_judgement(j) for j in s.judgements],
                "loss": {
                    "verdict": s.loss.verdict.value,
                    "budget": s.loss.budget,
                    "reason": s.loss.reason,
                    "baseline": _loss(s.loss.baseline),
                    "candidate": _loss(s.loss.candidate),
                },
            }
            for s in sequential.stages
        ],
        "verdict": sequential.final.value,
        "confirmed": list(sequential.stages[1].regressed) if len(sequential.stages) > 1 else [],
        "exit_code": exit_code(sequential.final, inconclusive_passes=inconclusive_passes),
        "wall_s": round(wall_s, 3),
        "fingerprint": fingerprint.to_dict(),
        "notes": list(notes),
        "rejudged_from": list(rejudged_from),
    }
    doc = orjson.loads(orjson.dumps(doc))
    validate_gate_document(doc)
    return doc


def _loss(figures: Any) -> dict[str, int]:
    return {"expected": figures.expected, "lost": figures.lost, "duplicated": figures.duplicated}


def validate_gate_document(doc: Mapping[str, Any]) -> None:
    """Raises :class:`GateDocumentError` listing every problem as ``$.trials[0].pair: ...``."""
    check_document(doc, "gate", GATE_SCHEMA_VERSION, GateDocumentError)


def read_gate_document(directory: Path) -> dict[str, Any]:
    """Read and validate ``DIR/gate.json`` (or the file itself when given one)."""
    return read_document(directory, GATE_FILE, validate_gate_document, GateDocumentError)


def recorded_judging(doc: Mapping[str, Any]) -> tuple[tuple[MetricRule, ...], GatePlan, float]:
    """The rules, plan and loss budget a recorded gate judged by, to judge its trials the same way again."""
    plan = doc["plan"]
    rules = tuple(MetricRule(r["metric"], float(r["threshold"]), float(r["floor"]), r["hard"]) for r in doc["rules"])
    return (
        rules,
        GatePlan(
            looks=tuple(int(n) for n in plan["looks"]),
            alpha=float(plan["alpha"]),
            beta=float(plan["beta"]),
            power=float(plan["power"]),
            confirm=bool(plan["confirm"]),
        ),
        float(plan["loss_budget"]),
    )
