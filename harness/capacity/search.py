"""The capacity search as a state machine: it names the next load to try, it is told whether a trial passed.

No I/O and no clock, so every path (growth, descent from a failing start, bisection, a confirmation that fails,
noise that makes the curve non-monotone) is tested with scripted verdicts.

The search, after Nighthawk's adaptive load and RFC 9971 (MLRsearch):

1. **Growth**: from ``start``, multiply the load by ``growth`` while loads pass, up to ``maximum``.
2. **Descent**: if the very first load fails, divide it by ``growth`` until one passes or ``minimum`` fails too.
3. **Bisection**: between the highest passing and the lowest failing load, try the midpoint until the bracket is
   within ``precision`` of its lower end (integer loads: or adjacent).
4. **Confirmation**: one longer trial at the highest passing load. If it fails, that load becomes a failure and
   the bisection goes on below it (at most ``confirmations`` times; then the search ends unconfirmed).

A load's verdict is the majority of at most ``trials`` trials (an odd number), and trials stop as soon as the
majority is reached: with 3, two passes or two failures decide, so a load costs 2 trials when they agree. One bad
trial out of three is tolerated, MLRsearch's "exceed ratio" idea, because a single trial on a shared 2-core machine
can be hit by a stall that has nothing to do with the load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

__all__ = ["Bracket", "LoadVerdict", "Outcome", "Phase", "Search", "SearchPlan", "Step"]

#: Bisection never takes more steps than this, whatever the precision (a guard against a plan with a huge range).
_MAX_LOADS: Final = 200


class Phase(Enum):
    GROWTH = "growth"
    DESCENT = "descent"
    BISECTION = "bisection"
    CONFIRMATION = "confirmation"


class Outcome(Enum):
    #: A bracket [last pass, first fail] within the precision, its lower end confirmed by the longer trial.
    FOUND = "found"
    #: Every load up to the plan's maximum passed (the capacity is at least the maximum).
    HOLDS_AT_MAXIMUM = "holds_at_maximum"
    #: Even the plan's minimum failed (the capacity is below it).
    FAILS_AT_MINIMUM = "fails_at_minimum"
    #: The confirmation trial failed as often as the plan allows: the last bracket is stated, but not confirmed.
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How the search moves.

    Attributes:
        start: the first load tried.
        minimum: the smallest load the dimension allows.
        maximum: the largest load tried.
        growth: factor between growth steps (> 1).
        precision: the bisection stops when ``first_fail - last_pass <= precision * last_pass``.
        integer: loads are whole numbers (connections, readers, group members).
        trials: at most this many trials per load (odd); the majority decides.
        confirmations: confirmation trials that may fail before the search ends unconfirmed.
    """

    start: float
    minimum: float
    maximum: float
    growth: float = 2.0
    precision: float = 0.05
    integer: bool = False
    trials: int = 3
    confirmations: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.start <= self.maximum:
            raise ValueError(
                f"expected 0 < minimum <= start <= maximum, got {self.minimum:g}, {self.start:g}, {self.maximum:g}"
            )
        if self.growth <= 1:
            raise ValueError(f"growth must be > 1, got {self.growth:g}")
        if not 0 < self.precision < 1:
            raise ValueError(f"precision must be in (0, 1), got {self.precision:g}")
        if self.trials < 1 or self.trials % 2 == 0:
            raise ValueError(f"trials per load must be odd and >= 1 (a majority decides), got {self.trials}")
        if self.confirmations < 1:
            raise ValueError(f"confirmations must be >= 1, got {self.confirmations}")
        if self.integer and not all(float(v).is_integer() for v in (self.start, self.minimum, self.maximum)):
            raise ValueError("an integer plan needs whole start, minimum and maximum")

    @property
    def majority(self) -> int:
        return self.trials // 2 + 1


@dataclass(frozen=True, slots=True)
class Step:
    """The trial to run next."""

    load: float
    phase: Phase
    #: 1-based trial number at this load.
    trial: int

    @property
    def confirmation(self) -> bool:
        return self.phase is Phase.CONFIRMATION


@dataclass(slots=True)
class LoadVerdict:
    """What was decided about one load (a confirmation is its own entry)."""

    load: float
    phase: Phase
    passes: int = 0
    fails: int = 0
    #: None while the majority is not reached.
    passed: bool | None = None


@dataclass(frozen=True, slots=True)
class Bracket:
    """``[last_pass, first_fail]``; either end is None when the search never saw it."""

    last_pass: float | None
    first_fail: float | None


@dataclass
class Search:
    plan: SearchPlan
    verdicts: list[LoadVerdict] = field(default_factory=list)
    outcome: Outcome | None = None
    failed_confirmations: int = 0
    _current: LoadVerdict | None = None
    _phase: Phase = Phase.GROWTH

    def __post_init__(self) -> None:
        self._current = LoadVerdict(self._round(self.plan.start), Phase.GROWTH)

    # -- the two calls -------------------------------------------------------------------------------------------

    def next_step(self) -> Step | None:
        """The trial to run next, or None when the search has ended (:attr:`outcome` says how)."""
        if self._current is None:
            return None
        current = self._current
        return Step(current.load, current.phase, current.passes + current.fails + 1)

    def record(self, passed: bool) -> None:
        """The verdict of the trial :meth:`next_step` returned."""
        current = self._current
        if current is None:
            raise RuntimeError("the search has ended; there is no trial to record")
        if passed:
            current.passes += 1
        else:
            current.fails += 1
        needed = 1 if current.phase is Phase.CONFIRMATION else self.plan.majority
        if current.passes >= needed:
            current.passed = True
        elif current.fails >= needed:
            current.passed = False
        else:
            return
        self.verdicts.append(current)
        self._current = None
        if len(self.verdicts) >= _MAX_LOADS:
            self._finish(Outcome.UNCONFIRMED)
            return
        self._advance(current)

    # -- what is known -------------------------------------------------------------------------------------------

    @property
    def phase(self) -> Phase | None:
        return self._current.phase if self._current is not None else None

    @property
    def bracket(self) -> Bracket:
        """The highest passing load below the lowest failing one, and that failing load.

        A confirmation that failed counts as a failure of its load; one that passed adds nothing new.
        """
        fails = [v.load for v in self.verdicts if v.passed is False]
        first_fail = min(fails) if fails else None
        passes = [v.load for v in self.verdicts if v.passed and (first_fail is None or v.load < first_fail)]
        return Bracket(max(passes) if passes else None, first_fail)

    def non_monotone(self) -> list[float]:
        """Loads that passed although the same or a lower load failed: noise (a confirmation that failed where the
        shorter trials passed), or a server whose behaviour is not monotone in the load."""
        first_fail = self.bracket.first_fail
        if first_fail is None:
            return []
        return sorted({v.load for v in self.verdicts if v.passed and v.load >= first_fail})

    def converged(self, bracket: Bracket | None = None) -> bool:
        b = bracket or self.bracket
        if b.last_pass is None or b.first_fail is None:
            return False
        gap = b.first_fail - b.last_pass
        return gap <= self.plan.precision * b.last_pass or (self.plan.integer and gap <= 1)

    def loads_left(self) -> tuple[int, int | None]:
        """At least and at most how many more loads (the confirmation included) the search will try, if its
        confirmations pass; the upper end is None when nothing bounds it yet."""
        if self.outcome is not None:
            return 0, 0
        b = self.bracket
        lo = b.last_pass
        if self._phase is Phase.CONFIRMATION:
            return 1, 1
        if lo is not None and b.first_fail is not None:
            # The bracket's lower end rises as it narrows, and the precision is relative to it: between the two.
            fewest = self._halvings(b.first_fail, lo, b.first_fail, fewest=True)
            return fewest + 1, self._halvings(lo, lo, b.first_fail) + 1
        growth = self.plan.growth
        if self._phase is Phase.DESCENT:
            current = self._current.load if self._current else self.plan.minimum
            down = max(1, math.ceil(math.log(max(current / self.plan.minimum, 1.0), growth)) + 1)
            return 1, down + self._halvings(current / growth, current / growth, current) + 1
        current = self._current.load if self._current else self.plan.start
        up = math.ceil(math.log(max(self.plan.maximum / current, 1.0), growth)) + 1
        top = self.plan.maximum
        most = up + self._halvings(top / growth, top / growth, top) + 1
        if not self.verdicts:  # the first load may fail, and the search then goes down instead
            down = math.ceil(math.log(max(current / self.plan.minimum, 1.0), growth)) + 1
            bottom = self.plan.minimum
            most = max(most, down + self._halvings(bottom, bottom, bottom * growth) + 1)
        # At the minimum a failure ends the search at once; anywhere else a confirmation follows at least.
        return (1 if current <= self.plan.minimum else 2), most

    # -- moving ----------------------------------------------------------------------------------------------------

    def _round(self, load: float) -> float:
        if self.plan.integer:
            return float(min(max(round(load), self.plan.minimum), self.plan.maximum))
        return min(max(load, self.plan.minimum), self.plan.maximum)

    def _halvings(self, relative_to: float, lo: float, hi: float, *, fewest: bool = False) -> int:
        """Bisection steps from the bracket [lo, hi] until its width is within the precision of ``relative_to``.

        Integer midpoints are rounded down, so a gap halves to its floor or its ceiling: ``fewest`` counts with the
        floors (the least that can be needed), otherwise with the ceilings (the most). A relative slack of 1e-9
        covers the rounding of the midpoints, which can put a width a hair either side of the limit.
        """
        target = self.plan.precision * relative_to
        if self.plan.integer:
            target = max(target, 1.0)
        slack = 1 + 1e-9 if fewest else 1 - 1e-9
        gap, steps = hi - lo, 0
        # Adjacent integer loads end the bisection (converged), whatever the precision says.
        while gap > target * slack and not (self.plan.integer and gap <= 1) and steps < _MAX_LOADS:
            if self.plan.integer:
                gap = math.floor(gap / 2) if fewest else math.ceil(gap / 2)
            else:
                gap /= 2
            steps += 1
        return steps

    def _try(self, load: float, phase: Phase) -> None:
        self._phase = phase
        self._current = LoadVerdict(load, phase)

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._current = None

    def _advance(self, done: LoadVerdict) -> None:
        plan = self.plan
        if done.phase is Phase.CONFIRMATION:
            if done.passed:
                self._finish(Outcome.HOLDS_AT_MAXIMUM if self.bracket.first_fail is None else Outcome.FOUND)
                return
            self.failed_confirmations += 1
            if self.failed_confirmations >= plan.confirmations:
                self._finish(Outcome.UNCONFIRMED)
                return
        b = self.bracket
        if b.first_fail is None:  # nothing has failed yet: grow, or confirm at the maximum
            assert b.last_pass is not None
            if b.last_pass >= plan.maximum:
                self._try(b.last_pass, Phase.CONFIRMATION)
            else:
                larger = self._round(b.last_pass * plan.growth)
                if larger <= b.last_pass:  # an integer plan whose growth rounds back to the same load
                    larger = b.last_pass + 1
                self._try(larger, Phase.GROWTH)
            return
        if b.last_pass is None:  # nothing below the lowest failure passed: go down
            if b.first_fail <= plan.minimum:
                self._finish(Outcome.FAILS_AT_MINIMUM)
                return
            lower = self._round(b.first_fail / plan.growth)
            if lower >= b.first_fail:  # an integer plan one step above its minimum
                lower = plan.minimum
            self._try(lower, Phase.DESCENT)
            return
        if self.converged(b):
            self._try(b.last_pass, Phase.CONFIRMATION)
            return
        middle = (b.last_pass + b.first_fail) / 2
        if plan.integer:
            middle = float(math.floor(middle))
        self._try(middle, Phase.BISECTION)
