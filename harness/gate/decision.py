"""The gate's sequential decision: pairs in, a three-valued verdict out (no I/O, no clocks).

A *stage* adds pairs until a look can decide: looks happen at fixed pair counts (``GatePlan.looks``); at each
look every metric is judged on all the stage's pairs so far:

- **REGRESSION** when the signed-rank test says "the candidate is slower" at the look's level after Holm's
  correction across the metrics, *and* the estimated slowdown is at least the metric's floor (a significant but
  negligible change does not fail a pull request);
- **NO REGRESSION** when the one-sided upper confidence bound of the ratio (at ``1 - beta / k``) is below
  ``1 + threshold``: a slowdown as large as the threshold is ruled out;
- otherwise the metric stays open; at the last look it is **INCONCLUSIVE**, stated with the minimum detectable
  effect of the pairs it had.

The family-wise false-alarm rate of one stage is at most ``alpha``: each of the ``k`` looks gets ``alpha / k``
(Bonferroni over looks) and Holm's step-down splits a look's level across the metrics. A metric that is hard only
``when-detectable`` (p99 by default) blocks nothing while its minimum detectable effect exceeds its threshold: it is
reported, advisory. A first stage that finds a regression is confirmed by a second stage of fresh pairs; only a
metric flagged by both fails the gate, so an A/A false alarm needs two independent ones (about ``alpha**2``).

Loss is not a statistic: the candidate's lost and duplicated messages over a stage are compared with the budget
(``loss_budget``, a ratio of the messages expected) and with the baseline's own loss.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

from harness.gate.statistic import confidence_bounds, hodges_lehmann, minimum_detectable_effect, signed_rank

__all__ = [
    "DEFAULT_RULES",
    "GatePlan",
    "Judgement",
    "LossFigures",
    "LossJudgement",
    "MetricRule",
    "Pair",
    "Sequential",
    "StageResult",
    "Verdict",
    "judge_look",
    "judge_loss",
]


class Verdict(StrEnum):
    REGRESSION = "regression"
    NO_REGRESSION = "no regression"
    INCONCLUSIVE = "inconclusive"
    #: A look left the metric undecided and more pairs may come (never a final verdict).
    OPEN = "open"


Hardness = Literal["always", "when-detectable", "never"]


@dataclass(frozen=True, slots=True)
class MetricRule:
    """How one metric is judged.

    Attributes:
        metric: ``cpu_per_message``, ``p50``, ``p90`` or ``p99`` (the figures of :class:`Pair`).
        threshold: the relative slowdown that matters (0.10 = 10 %): NO REGRESSION needs it ruled out.
        floor: the smallest estimated slowdown that may fail the gate (default: half the threshold).
        hard: whether a REGRESSION of this metric fails the gate: ``always``, ``when-detectable`` (only while
            the pairs could detect a change of ``threshold``) or ``never`` (reported only).
    """

    metric: str
    threshold: float
    floor: float | None = None
    hard: Hardness = "always"

    @property
    def effective_floor(self) -> float:
        return self.threshold / 2 if self.floor is None else self.floor


#: The metrics a gate judges when the scenario's ``[gate]`` table says nothing of them.
DEFAULT_RULES: Final[tuple[MetricRule, ...]] = (
    MetricRule("cpu_per_message", 0.10),
    MetricRule("p50", 0.10),
    MetricRule("p90", 0.15, hard="when-detectable"),
    MetricRule("p99", 0.15, hard="when-detectable"),
)


@dataclass(frozen=True, slots=True)
class GatePlan:
    """When the gate looks and at what error rate.

    Attributes:
        looks: pair counts at which a stage is judged, increasing; the last one is the stage's cap.
        alpha: family-wise false-alarm rate of one stage (all metrics, all looks).
        beta: the rate at which a stage may clear a metric (NO REGRESSION) whose true slowdown is exactly its
            threshold, over all looks (larger slowdowns are cleared less often).
        power: the power the stated minimum detectable effect refers to.
        confirm: confirm a first-stage REGRESSION with a second stage of fresh pairs.
    """

    looks: tuple[int, ...] = (8, 12, 16)
    alpha: float = 0.05
    beta: float = 0.10
    power: float = 0.8
    confirm: bool = True

    def __post_init__(self) -> None:
        if not self.looks or any(b <= a for a, b in zip(self.looks, self.looks[1:], strict=False)):
            raise ValueError(f"looks must be increasing pair counts, got {self.looks}")
        if self.looks[0] < 2:
            raise ValueError(f"the first look needs at least 2 pairs, got {self.looks[0]}")
        for name in ("alpha", "beta", "power"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / len(self.looks)

    @property
    def beta_per_look(self) -> float:
        return self.beta / len(self.looks)


@dataclass(frozen=True, slots=True)
class LossFigures:
    """Exact delivery accounting of one arm over some trials."""

    expected: int
    lost: int
    duplicated: int

    def __add__(self, other: LossFigures) -> LossFigures:
        return LossFigures(self.expected + other.expected, self.lost + other.lost, self.duplicated + other.duplicated)

    @property
    def ratio(self) -> float:
        return (self.lost + self.duplicated) / self.expected if self.expected else 0.0


@dataclass(frozen=True, slots=True)
class Pair:
    """One baseline trial and one candidate trial, as the decision needs them.

    Attributes:
        baseline, candidate: per metric name, the trial's figure (larger is worse); a metric missing from either
            side is not judged on this pair.
        baseline_loss, candidate_loss: each trial's delivery accounting.
    """

    baseline: Mapping[str, float]
    candidate: Mapping[str, float]
    baseline_loss: LossFigures
    candidate_loss: LossFigures


@dataclass(frozen=True, slots=True)
class Judgement:
    """One metric at one look.

    Ratios are candidate / baseline: 1.10 is 10 % slower. ``lower`` is the one-sided bound at ``1 - alpha`` (the
    look's level), ``upper`` at ``1 - beta`` (infinite with too few pairs); ``mde`` is the relative change these
    pairs would detect with the plan's power at ``alpha`` (None below 3 pairs).
    """

    metric: str
    pairs: int
    verdict: Verdict
    hard: bool
    ratio: float
    lower: float
    upper: float
    p_value: float
    alpha: float
    beta: float
    mde: float | None
    threshold: float
    floor: float
    reason: str


def _ratio(log_value: float) -> float:
    return math.exp(log_value) if math.isfinite(log_value) else (math.inf if log_value > 0 else 0.0)


def judge_look(
    rules: Sequence[MetricRule],
    differences: Mapping[str, Sequence[float]],
    plan: GatePlan,
    *,
    last: bool,
    testable: Collection[str] | None = None,
) -> list[Judgement]:
    """Judge every metric of ``rules`` that has log-ratios in ``differences`` at one look.

    Args:
        differences: per metric, the stage's paired log-ratios ``ln(candidate / baseline)``.
        last: this is the stage's last look: open metrics become INCONCLUSIVE.
        testable: the metrics that may be found REGRESSION (default: all); the others can only be cleared or stay
            open. A confirmation tests only what the first stage flagged, so Holm splits its level fewer ways.
    """
    alpha = plan.alpha_per_look
    judged = [rule for rule in rules if len(differences.get(rule.metric, ())) > 0]
    tests = {rule.metric: signed_rank(differences[rule.metric]) for rule in judged}
    family = [rule for rule in judged if testable is None or rule.metric in testable]
    # Holm's step-down across the metrics: the i-th smallest p-value is held to alpha / (m - i).
    significant: set[str] = set()
    for i, rule in enumerate(sorted(family, key=lambda r: tests[r.metric].p_greater)):
        if tests[rule.metric].p_greater > alpha / (len(family) - i):
            break
        significant.add(rule.metric)
    out = []
    for rule in judged:
        d = differences[rule.metric]
        estimate = hodges_lehmann(d)
        low = confidence_bounds(d, alpha)[0]
        high = confidence_bounds(d, plan.beta_per_look)[1]
        mde_log = minimum_detectable_effect(d, alpha, plan.power)
        mde = None if mde_log is None else math.expm1(mde_log)
        detectable = mde is not None and mde <= rule.threshold
        hard = rule.hard == "always" or (rule.hard == "when-detectable" and detectable)
        ratio, upper = _ratio(estimate), _ratio(high)
        floor = rule.effective_floor
        if rule.metric in significant and ratio - 1 >= floor:
            verdict = Verdict.REGRESSION
            reason = f"slower by {ratio - 1:+.1%} (significant at {alpha:.4g} after Holm; floor {floor:.0%})"
        elif upper - 1 < rule.threshold:
            verdict = Verdict.NO_REGRESSION
            reason = f"a slowdown of {rule.threshold:.0%} is ruled out (upper bound {upper - 1:+.1%})"
        else:
            verdict = Verdict.INCONCLUSIVE if last else Verdict.OPEN
            reason = (
                f"upper bound {upper - 1:+.1%} does not rule out {rule.threshold:.0%}"
                if math.isfinite(upper)
                else f"too few pairs ({len(d)}) for a bound at {plan.beta_per_look:.4g}"
            )
            if mde is not None:
                reason += f"; these pairs could detect about {mde:.0%}"
        if not hard and rule.hard != "never" and verdict is not Verdict.NO_REGRESSION:
            reason += f" (advisory: could detect only {mde:.0%} > {rule.threshold:.0%})" if mde is not None else ""
        out.append(
            Judgement(
                metric=rule.metric,
                pairs=len(d),
                verdict=verdict,
                hard=hard,
                ratio=ratio,
                lower=_ratio(low),
                upper=upper,
                p_value=tests[rule.metric].p_greater,
                alpha=alpha,
                beta=plan.beta_per_look,
                mde=mde,
                threshold=rule.threshold,
                floor=floor,
                reason=reason,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class LossJudgement:
    verdict: Verdict
    budget: float
    baseline: LossFigures
    candidate: LossFigures
    reason: str


def judge_loss(pairs: Sequence[Pair], budget: float) -> LossJudgement:
    """The candidate's exact loss over ``pairs`` against the budget and the baseline's loss."""
    base = sum((p.baseline_loss for p in pairs), LossFigures(0, 0, 0))
    cand = sum((p.candidate_loss for p in pairs), LossFigures(0, 0, 0))
    over = cand.ratio > budget
    if over and cand.ratio > base.ratio:
        verdict = Verdict.REGRESSION
        reason = (
            f"candidate lost {cand.lost} and duplicated {cand.duplicated} of {cand.expected} "
            f"({cand.ratio:.3%} > budget {budget:.3%}; baseline {base.ratio:.3%})"
        )
    elif over:
        verdict = Verdict.NO_REGRESSION
        reason = (
            f"both arms are over the budget {budget:.3%} (baseline {base.ratio:.3%}, candidate {cand.ratio:.3%}): "
            "not introduced by the candidate"
        )
    else:
        verdict = Verdict.NO_REGRESSION
        reason = f"candidate {cand.ratio:.3%} within budget {budget:.3%}"
    return LossJudgement(verdict, budget, base, cand, reason)


@dataclass(frozen=True, slots=True)
class StageResult:
    """A finished stage: its verdict, the judgements of its final look, and its loss."""

    verdict: Verdict
    pairs: int
    judgements: tuple[Judgement, ...]
    loss: LossJudgement
    #: Metrics (and ``loss``) whose hard REGRESSION ended the stage.
    regressed: tuple[str, ...]


def _stage_verdict(judgements: Sequence[Judgement], loss: LossJudgement) -> tuple[Verdict, tuple[str, ...]]:
    regressed = tuple(j.metric for j in judgements if j.hard and j.verdict is Verdict.REGRESSION)
    if loss.verdict is Verdict.REGRESSION:
        regressed += ("loss",)
    if regressed:
        return Verdict.REGRESSION, regressed
    undecided = {j.verdict for j in judgements if j.hard} & {Verdict.OPEN, Verdict.INCONCLUSIVE}
    if undecided:
        return (Verdict.OPEN if Verdict.OPEN in undecided else Verdict.INCONCLUSIVE), ()
    return Verdict.NO_REGRESSION, ()


@dataclass
class Sequential:
    """The gate's decision as a state machine: ask :meth:`wanted` how many more pairs to run, :meth:`add` them,
    until :attr:`final` is set.

    Args:
        rules: the metrics and their thresholds.
        plan: looks, error rate, confirmation.
        loss_budget: the candidate's tolerated lost + duplicated ratio.
    """

    rules: Sequence[MetricRule]
    plan: GatePlan = field(default_factory=GatePlan)
    loss_budget: float = 0.0
    stages: list[StageResult] = field(default_factory=list)
    looks: list[tuple[int, tuple[Judgement, ...]]] = field(default_factory=list)
    _pairs: list[Pair] = field(default_factory=list)
    # Metrics cleared (NO REGRESSION) at an earlier look of this stage, with the judgement that cleared them.
    _cleared: dict[str, Judgement] = field(default_factory=dict)
    final: Verdict | None = None

    @property
    def stage(self) -> int:
        """1 for the first stage, 2 for the confirmation."""
        return len(self.stages) + 1

    def wanted(self) -> int:
        """Pairs to run before the next look; 0 once the gate has decided."""
        if self.final is not None:
            return 0
        return next(n for n in self.plan.looks if n > len(self._pairs)) - len(self._pairs)

    def add(self, pair: Pair) -> None:
        """Add one usable pair; a look is taken when the stage reaches a look's pair count."""
        if self.final is not None:
            raise RuntimeError("the gate has decided; no more pairs")
        self._pairs.append(pair)
        n = len(self._pairs)
        if n not in self.plan.looks:
            return
        last = n == self.plan.looks[-1]
        differences = _differences(self._pairs)
        # The confirmation may only confirm: it tests the metrics the first stage flagged, and nothing else.
        testable = {rule.metric for rule in self.rules} if not self.stages else set(self.stages[0].regressed)
        # A metric cleared at a look stays cleared for the stage: each look's clearing already has its own share
        # (beta / k) of the error, so judging it again would only spend more of it; it leaves Holm's family too.
        testable -= set(self._cleared)
        fresh = judge_look(self.rules, differences, self.plan, last=last, testable=testable)
        judgements = tuple(self._cleared.get(j.metric, j) for j in fresh)
        for j in judgements:
            if j.verdict is Verdict.NO_REGRESSION:
                self._cleared.setdefault(j.metric, j)
        self.looks.append((self.stage, judgements))
        loss = judge_loss(self._pairs, self.loss_budget)
        verdict, regressed = _stage_verdict(judgements, loss)
        if verdict is Verdict.OPEN and not last:
            return
        if verdict is Verdict.OPEN:
            verdict = Verdict.INCONCLUSIVE
        self.stages.append(StageResult(verdict, n, judgements, loss, regressed))
        self._pairs = []
        self._cleared = {}
        self._conclude()

    def _conclude(self) -> None:
        first = self.stages[0]
        if first.verdict is not Verdict.REGRESSION or not self.plan.confirm:
            self.final = first.verdict
            return
        if len(self.stages) == 1:
            return  # the confirmation stage starts
        # Each stage's family-wise false-alarm rate is at most alpha, so when nothing changed two independent stages
        # both flagging a metric happens at most alpha**2 of the time. The fresh stage's verdict stands: an
        # unconfirmed finding is cleared or left inconclusive by new evidence.
        self.final = self.stages[1].verdict


def _differences(pairs: Sequence[Pair]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for pair in pairs:
        for metric, base in pair.baseline.items():
            cand = pair.candidate.get(metric)
            if cand is None:
                continue
            if not (base > 0 and cand > 0 and math.isfinite(base) and math.isfinite(cand)):
                # A ratio with a zero is meaningless; the runner must not hand the gate such a trial.
                raise ValueError(f"{metric}: figures must be positive and finite, got {base!r} and {cand!r}")
            out.setdefault(metric, []).append(math.log(cand / base))
    return out
