"""``capacity.json``: every search of one ``harness capacity``, validated against ``results/schema/capacity-v1.json``.

Format history (the file outlives the code that wrote it):

* version 1: first version.

A document holds one or more searches (a plan searches several dimensions); each carries its
``bracket = {last_pass, first_fail, unit}``, the predicates that failed at the first failing load, every load's
verdict and every trial with its figures, so the answer can be checked, and re-read, from the file alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from harness.capacity.opening import KEPT_UP_MS, Opening
from harness.capacity.runner import CapacityRun
from harness.capacity.search import Outcome
from harness.capacity.trial import SEND_RATE_RATIO, SETTLE_S
from harness.measure.fingerprint import Fingerprint
from harness.results.schemas import check_document, read_document
from harness.scenario import Scenario, Slo
from harness.scenario.slo_text import slo_text

__all__ = [
    "CAPACITY_FILE",
    "CAPACITY_SCHEMA_VERSION",
    "CapacityDocumentError",
    "build_capacity_document",
    "read_capacity_document",
    "search_document",
    "search_sentence",
    "validate_capacity_document",
]

CAPACITY_SCHEMA_VERSION: Final = 1
CAPACITY_FILE: Final = "capacity.json"


class CapacityDocumentError(ValueError):
    """A capacity.json that cannot be read or does not follow its schema."""


def search_sentence(search: Mapping[str, Any]) -> str:
    """The answer of one search document in one sentence, as the CLI prints it."""
    where = search["where"]
    dimension = search["dimension"]
    unit = dimension["unit"]
    slos = ", ".join(search["slos"]) or "its predicates"
    bracket = search["bracket"]

    def load(value: float) -> str:
        return f"{value:,.0f} {unit}" if value >= 100 or dimension["integer"] else f"{value:,.3g} {unit}"

    outcome = search["outcome"]
    failed = "; ".join(c["name"] for c in search["first_fail_checks"]) or "-"
    if outcome == Outcome.FOUND.value:
        return (
            f"{where} holds {load(bracket['last_pass'])} at {slos} and fails at {load(bracket['first_fail'])} "
            f"({failed}); confirmed by a {search['plan']['trial_s'] * search['plan']['confirm_factor']:g} s trial"
        )
    if outcome == Outcome.HOLDS_AT_MAXIMUM.value:
        return f"{where} holds at least {load(bracket['last_pass'])} at {slos}: the search's maximum, never failed"
    if outcome == Outcome.FAILS_AT_MINIMUM.value:
        return f"{where} fails already at {load(bracket['first_fail'])}, the search's minimum ({failed})"
    lower = "nothing" if bracket["last_pass"] is None else load(bracket["last_pass"])
    return (
        f"{where}: not confirmed: the longer trial failed {search['failed_confirmations']} times; the last bracket "
        f"was [{lower}, {load(bracket['first_fail'])}] ({failed})"
    )


def _opening(opening: Opening) -> dict[str, Any]:
    return {
        "spawn_rate": opening.base,
        "adaptive": opening.adaptive,
        "maximum_per_s": opening.maximum,
        "minimum_per_s": opening.floor,
        "kept_up_connect_p99_ms": KEPT_UP_MS,
        "reopenings": opening.reopenings,
    }


def search_document(
    run: CapacityRun,
    *,
    scenario: Scenario,
    slos: Sequence[Slo],
    where: str,
    cell: Mapping[str, Any],
    target: str | None,
    trial_s: float,
    confirm_factor: float,
    settle_s: float,
    restarted: bool,
    generator_processes: int = 0,
) -> dict[str, Any]:
    """The ``$defs/search`` object of one finished search; ``generator_processes``: Locust worker processes (0:
    one local runner)."""
    search = run.search
    if search.outcome is None:
        raise CapacityDocumentError("the search has not ended: a document needs its outcome")
    plan = search.plan
    bracket = search.bracket
    first_fail_checks: list[dict[str, Any]] = []
    if bracket.first_fail is not None:
        failing = [t for t in run.trials if t.load == bracket.first_fail and not t.passed]
        seen: dict[str, dict[str, Any]] = {}
        for trial in failing:
            for check in trial.failed_checks:
                seen.setdefault(check.name, check.to_dict())
        first_fail_checks = list(seen.values())
    dimension = run.dimension
    doc: dict[str, Any] = {
        "search_id": run.run_id,
        "where": where,
        "cell": dict(cell),
        "target": target,
        "scenario": scenario.to_dict(),
        "dimension": {
            "name": dimension.name,
            "unit": dimension.unit,
            "description": dimension.description,
            "integer": dimension.integer,
        },
        "slos": [slo_text(s) for s in slos],
        "plan": {
            "start": plan.start,
            "minimum": plan.minimum,
            "maximum": plan.maximum,
            "growth": plan.growth,
            "precision": plan.precision,
            "trials_per_load": plan.trials,
            "majority": plan.majority,
            "confirmations": plan.confirmations,
            "trial_s": trial_s,
            "confirm_factor": confirm_factor,
            "send_rate_ratio": SEND_RATE_RATIO,
            "settle_before_send_s": SETTLE_S,
            "restart_before_trial": restarted,
            "generator_processes": generator_processes,
            "settle_after_failure_s": None if restarted else settle_s,
            **({} if run.opening is None else {"opening": _opening(run.opening)}),
        },
        "outcome": search.outcome.value,
        "bracket": {"last_pass": bracket.last_pass, "first_fail": bracket.first_fail, "unit": dimension.unit},
        "first_fail_checks": first_fail_checks,
        "failed_confirmations": search.failed_confirmations,
        "non_monotone": search.non_monotone(),
        "loads": [
            {"load": v.load, "phase": v.phase.value, "passes": v.passes, "fails": v.fails, "pass": bool(v.passed)}
            for v in search.verdicts
        ],
        "trials": [t.to_dict() for t in run.trials],
        "reopened": [t.to_dict() for t in run.reopened],
        "restarts": run.restarts,
        "settles": run.settles,
        "wall_s": run.wall_s,
    }
    doc["sentence"] = search_sentence(doc)
    return doc


def build_capacity_document(
    *,
    searches: Sequence[Mapping[str, Any]],
    fingerprint: Fingerprint,
    scaling: Mapping[str, Any] | None = None,
    plan: str | None = None,
    plan_answer: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """The whole document; raises :class:`CapacityDocumentError` if it would not validate (a bug, never written)."""
    doc: dict[str, Any] = {
        "schema_version": CAPACITY_SCHEMA_VERSION,
        "created": (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(),
        "plan_name": plan,
        "plan_answer": None if plan_answer is None else dict(plan_answer),
        "searches": [dict(s) for s in searches],
        "scaling": None if scaling is None else dict(scaling),
        "fingerprint": fingerprint.to_dict(),
        "notes": list(notes),
    }
    doc = orjson.loads(orjson.dumps(doc))  # exactly what a reader of the file will see (tuples become lists)
    validate_capacity_document(doc)
    return doc


def validate_capacity_document(doc: Mapping[str, Any]) -> None:
    """Raises :class:`CapacityDocumentError` listing every problem as ``$.searches[0].bracket: ...``."""
    check_document(doc, "capacity", CAPACITY_SCHEMA_VERSION, CapacityDocumentError)


def read_capacity_document(path: Path) -> dict[str, Any]:
    """Read and validate ``DIR/capacity.json`` (or the file itself when given one)."""
    return read_document(path, CAPACITY_FILE, validate_capacity_document, CapacityDocumentError)
