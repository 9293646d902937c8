"""Running a gate: interleaved pairs of trials, fed to the sequential decision until it decides.

Pairs run in ABBA order (baseline-candidate, then candidate-baseline, ...), the first arm drawn with the seed, so a
drift of the machine's speed during the gate hits both arms alike. One warm-up trial per arm comes first and is
never judged. A pair with a rejected trial (generator saturated, machine disturbed) is run again, at most
``max_reruns`` times over the whole gate; past that the gate stops with an error rather than judge what it could
not measure.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.gate.decision import DEFAULT_RULES, GatePlan, MetricRule, Pair, Sequential
from harness.gate.trial import DISTURBANCE, Arm, Disturbance, Trial, run_trial
from harness.run.plan import GENERATOR_KIND
from harness.scenario import Scenario

__all__ = ["GateError", "GateRun", "gate_rules", "run_gate", "sequential_from_trials", "usable_pairs"]


class GateError(RuntimeError):
    """The gate itself could not reach a verdict (exit 1): a trial failed, or too many were disturbed."""


def gate_rules(scenario: Scenario) -> tuple[MetricRule, ...]:
    """The default rules with the scenario's ``[gate]`` thresholds."""
    thresholds = scenario.gate.thresholds
    return tuple(
        MetricRule(rule.metric, thresholds.get(rule.metric, rule.threshold), hard=rule.hard) for rule in DEFAULT_RULES
    )


def check_gateable(scenario: Scenario) -> None:
    """Refuse scenarios a trial cannot run: a ValueError naming what is wrong and what would work."""
    if scenario.kind not in GENERATOR_KIND or scenario.kind in ("fanout", "connect-storm"):
        raise ValueError(
            f"scenario {scenario.name!r} is of kind {scenario.kind!r}; the gate runs kinds echo, broadcast, chat "
            "and notifications (one open-loop run per trial)"
        )
    if scenario.load.shape != "constant":
        raise ValueError(
            f"scenario {scenario.name!r} has a {scenario.load.shape} load shape; a gate trial runs one fixed rate, "
            "so use a scenario with shape constant"
        )


@dataclass
class GateRun:
    """Everything a gate measured and decided, in the order it happened."""

    gate_id: str
    sequential: Sequential
    first_arm: str
    trials: list[Trial] = field(default_factory=list)
    reruns: int = 0
    wall_s: float = 0.0


def _order(first: str, pair: int) -> tuple[str, str]:
    other = "candidate" if first == "baseline" else "baseline"
    return (first, other) if pair % 2 == 1 else (other, first)


def _pair_of(trials: Sequence[Trial]) -> Pair:
    by_arm = {t.arm: t for t in trials}
    base, cand = by_arm["baseline"], by_arm["candidate"]
    shared = set(base.figures) & set(cand.figures)
    return Pair(
        {k: v for k, v in base.figures.items() if k in shared},
        {k: v for k, v in cand.figures.items() if k in shared},
        base.loss,
        cand.loss,
    )


def usable_pairs(trials: Sequence[Trial]) -> list[Pair]:
    """The pairs of recorded trials whose two arms were both used, in the order they ran (warm-ups left out)."""
    pairs: dict[int, list[Trial]] = {}
    for trial in trials:
        if trial.pair > 0 and trial.usable:
            pairs.setdefault(trial.pair, []).append(trial)
    return [
        _pair_of(pairs[number])
        for number in sorted(pairs)
        if {t.arm for t in pairs[number]} == {"baseline", "candidate"}
    ]


def sequential_from_trials(
    trials: Sequence[Trial], rules: Sequence[MetricRule], plan: GatePlan, loss_budget: float
) -> Sequential:
    """Judge recorded trials again: their usable pairs, in order, fed to a fresh decision until it decides."""
    sequential = Sequential(rules, plan, loss_budget)
    for pair in usable_pairs(trials):
        if not sequential.wanted():
            break
        sequential.add(pair)
    return sequential


def run_gate(
    scenario: Scenario,
    arms: dict[str, Arm],
    out_dir: Path,
    *,
    plan: GatePlan | None = None,
    seed: int = 1,
    max_reruns: int = 6,
    bounds: Disturbance = DISTURBANCE,
    before_pair: Callable[[int], None] | None = None,
    log: TextIO | None = None,
) -> GateRun:
    """Run the gate of ``scenario`` between ``arms["baseline"]`` and ``arms["candidate"]``.

    Args:
        before_pair: called with each pair's number before it runs (a caller restarting servers per pair).
        log: where each trial is reported as it ends (default: stderr).

    Raises:
        GateError: a trial could not run, or more than ``max_reruns`` pairs had to be run again.
    """
    check_gateable(scenario)
    stream = log if log is not None else sys.stderr
    plan = plan or GatePlan(looks=scenario.gate.looks, alpha=scenario.gate.alpha)
    sequential = Sequential(gate_rules(scenario), plan, scenario.gate.loss)
    first = random.Random(seed).choice(("baseline", "candidate"))
    run = GateRun(gate_id=uuid.uuid4().hex[:12], sequential=sequential, first_arm=first)
    t0 = time.monotonic()

    def trial(arm: str, pair: int, attempt: int) -> Trial:
        directory = out_dir / "trials" / f"pair-{pair:02d}-{arm}-{attempt}"
        try:
            result = run_trial(
                scenario, arms[arm], pair=pair, attempt=attempt, out_dir=directory, run_id=run.gate_id, bounds=bounds
            )
        except Exception as exc:
            raise GateError(str(exc)) from exc
        run.trials.append(result)
        figures = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(result.figures.items()))
        status = "ok" if result.usable else "REJECTED: " + "; ".join(result.rejected)
        label = "warm-up" if pair == 0 else f"pair {pair}"
        print(f"[gate] {label} {arm}: {figures or 'no figures'} ({status})", file=stream, flush=True)
        return result

    for arm in _order(first, 1):
        trial(arm, 0, 1)  # warm-up: caches, connection pools, the first Locust start
    pair = 0
    while sequential.wanted():
        pair += 1
        attempt = 1
        while True:
            if before_pair is not None:
                before_pair(pair)
            results = [trial(arm, pair, attempt) for arm in _order(first, pair)]
            if all(r.usable for r in results):
                break
            run.reruns += 1
            if run.reruns > max_reruns:
                raise GateError(
                    f"{run.reruns} pairs had a rejected trial (limit {max_reruns}); the machine or the generator "
                    "was too disturbed to compare the arms. The trials and their reasons are in "
                    f"{out_dir / 'trials'}"
                )
            attempt += 1
        missing = {r.arm: sorted({"p50", "p90", "p99", "cpu_per_message"} - set(r.figures)) for r in results}
        if any(m != ["cpu_per_message"] and m for m in missing.values()):
            raise GateError(f"pair {pair} measured no latency percentiles: {missing}")
        looks = len(sequential.looks)
        sequential.add(_pair_of(results))
        if len(sequential.looks) > looks:
            _report_look(sequential, stream)
    run.wall_s = time.monotonic() - t0
    return run


def _report_look(sequential: Sequential, stream: TextIO) -> None:
    stage, judgements = sequential.looks[-1]
    if not judgements:
        return
    parts = [f"{j.metric} {j.ratio - 1:+.1%} {j.verdict.value}" for j in judgements]
    # A metric cleared earlier keeps the judgement (and pair count) that cleared it: the look is the largest.
    print(
        f"[gate] stage {stage}, {max(j.pairs for j in judgements)} pairs: " + "; ".join(parts), file=stream, flush=True
    )
