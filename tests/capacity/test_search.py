"""The capacity search state machine, driven by scripted verdicts (no server, no clock)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from harness.capacity.search import Outcome, Phase, Search, SearchPlan


def drive(search: Search, passes: Callable[[float, Phase], bool], limit: int = 500) -> list[tuple[float, Phase]]:
    """Run the search to its end; returns every trial as (load, phase)."""
    tried = []
    while (step := search.next_step()) is not None:
        tried.append((step.load, step.phase))
        search.record(passes(step.load, step.phase))
        assert len(tried) < limit, "the search did not end"
    return tried


@pytest.mark.parametrize("capacity", [1.0, 7.3, 99.0, 100.0, 480.0, 12_345.0])
@pytest.mark.parametrize("start", [0.5, 10.0, 1000.0])
def test_a_monotone_capacity_is_bracketed_within_the_precision(capacity: float, start: float) -> None:
    plan = SearchPlan(start=start, minimum=0.1, maximum=100_000.0, precision=0.05)
    search = Search(plan)
    drive(search, lambda load, _: load <= capacity)
    b = search.bracket
    assert search.outcome is Outcome.FOUND
    assert b.last_pass is not None and b.first_fail is not None
    assert b.last_pass <= capacity < b.first_fail
    assert b.first_fail - b.last_pass <= 0.05 * b.last_pass
    assert search.non_monotone() == []


@pytest.mark.parametrize("capacity", [1, 2, 3, 17, 1000, 1023, 1024])
def test_integer_loads_end_adjacent_or_within_precision(capacity: int) -> None:
    search = Search(SearchPlan(start=4, minimum=1, maximum=5000, integer=True))
    tried = drive(search, lambda load, _: load <= capacity)
    assert all(load == int(load) for load, _ in tried)
    b = search.bracket
    assert b.last_pass is not None and b.first_fail is not None
    assert b.last_pass <= capacity < b.first_fail
    assert b.first_fail - b.last_pass <= max(1, 0.05 * b.last_pass)


def test_the_phases_come_in_order_and_the_confirmation_is_one_long_trial_at_the_last_pass() -> None:
    search = Search(SearchPlan(start=10, minimum=1, maximum=10_000, trials=1))
    tried = drive(search, lambda load, _: load <= 300)
    phases = [phase for _, phase in tried]
    assert phases[:6] == [Phase.GROWTH] * 6  # 10 20 40 80 160 320
    assert tried[5][0] == 320
    assert set(phases[6:-1]) == {Phase.BISECTION} and phases[-1] is Phase.CONFIRMATION
    assert tried[-1][0] == search.bracket.last_pass


def test_a_load_is_decided_by_the_majority_of_its_trials_and_trials_stop_when_it_is_reached() -> None:
    search = Search(SearchPlan(start=10, minimum=1, maximum=10, trials=3))
    script = iter([True, False, True, True])  # load 10: pass, fail, pass -> pass; confirmation: pass
    tried = drive(search, lambda *_: next(script))
    assert [load for load, _ in tried] == [10, 10, 10, 10]
    assert search.verdicts[0].passes == 2 and search.verdicts[0].fails == 1 and search.verdicts[0].passed
    # Two agreeing trials decide at once.
    agreeing = Search(SearchPlan(start=10, minimum=1, maximum=10, trials=3))
    assert len(drive(agreeing, lambda *_: True)) == 3  # 2 trials + 1 confirmation


def test_every_load_passing_holds_at_the_maximum_after_confirming_it() -> None:
    search = Search(SearchPlan(start=10, minimum=1, maximum=100, trials=1))
    tried = drive(search, lambda *_: True)
    assert [load for load, _ in tried] == [10, 20, 40, 80, 100, 100]
    assert tried[-1][1] is Phase.CONFIRMATION
    assert search.outcome is Outcome.HOLDS_AT_MAXIMUM and search.bracket.last_pass == 100
    assert search.bracket.first_fail is None


def test_a_failing_start_descends_and_failing_everything_ends_at_the_minimum() -> None:
    search = Search(SearchPlan(start=100, minimum=3, maximum=1000, trials=1))
    tried = drive(search, lambda *_: False)
    assert [load for load, _ in tried] == [100, 50, 25, 12.5, 6.25, 3.125, 3]
    assert search.outcome is Outcome.FAILS_AT_MINIMUM and search.bracket == type(search.bracket)(None, 3)
    descended = Search(SearchPlan(start=100, minimum=1, maximum=1000, trials=1))
    drive(descended, lambda load, _: load <= 30)
    assert descended.outcome is Outcome.FOUND
    assert descended.bracket.last_pass is not None and descended.bracket.last_pass <= 30


def test_a_failed_confirmation_reopens_the_search_below_and_is_reported_as_non_monotone() -> None:
    search = Search(SearchPlan(start=10, minimum=1, maximum=1000, trials=1))
    confirmations = []

    def passes(load: float, phase: Phase) -> bool:
        if phase is Phase.CONFIRMATION:
            confirmations.append(load)
            return len(confirmations) > 1  # the first confirmation fails, the second passes
        return load <= 100

    drive(search, passes)
    assert search.outcome is Outcome.FOUND and search.failed_confirmations == 1
    assert len(confirmations) == 2 and confirmations[1] < confirmations[0]
    assert search.bracket.first_fail == confirmations[0] and search.bracket.last_pass == confirmations[1]
    assert search.non_monotone() == [confirmations[0]]


def test_confirmations_failing_as_often_as_allowed_end_unconfirmed() -> None:
    search = Search(SearchPlan(start=10, minimum=1, maximum=1000, trials=1, confirmations=2))
    drive(search, lambda load, phase: phase is not Phase.CONFIRMATION and load <= 100)
    assert search.outcome is Outcome.UNCONFIRMED and search.failed_confirmations == 2
    assert search.next_step() is None
    with pytest.raises(RuntimeError, match="has ended"):
        search.record(True)


def test_the_loads_left_estimate_brackets_what_the_search_then_does() -> None:
    rng = random.Random(5)
    for _ in range(300):
        capacity = 10 ** rng.uniform(-1, 4.5)
        start = 10 ** rng.uniform(-1, 4)
        integer = rng.random() < 0.5
        if integer:
            start = float(max(1, round(start)))
        plan = SearchPlan(start=start, minimum=1 if integer else 0.1, maximum=50_000, integer=integer, trials=1)
        search = Search(plan)
        estimates = []
        done = 0
        while (step := search.next_step()) is not None:
            if step.trial == 1:
                estimates.append((done, search.loads_left()))
            search.record(step.load <= capacity)
            done += 1
        total = len(search.verdicts)
        for already, (low, high) in estimates:
            left = total - already
            assert low <= left, (capacity, start, integer, already, low, left)
            if high is not None:
                assert left <= high, (capacity, start, integer, already, high, left)
                # Useful, not merely true: no more than the growth or descent over the whole range and a
                # bisection (an integer bisection that never counted adjacent loads as done once said 211).
                assert high <= math.log2(plan.maximum / plan.minimum) + 8, (capacity, start, integer, high)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": 0, "minimum": 0, "maximum": 1}, "0 < minimum"),
        ({"start": 5, "minimum": 10, "maximum": 100}, "minimum <= start"),
        ({"start": 5, "minimum": 1, "maximum": 100, "growth": 1.0}, "growth"),
        ({"start": 5, "minimum": 1, "maximum": 100, "precision": 0}, "precision"),
        ({"start": 5, "minimum": 1, "maximum": 100, "trials": 2}, "odd"),
        ({"start": 5.5, "minimum": 1, "maximum": 100, "integer": True}, "whole"),
    ],
)
def test_a_bad_plan_is_refused_with_what_was_expected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchPlan(**kwargs)  # type: ignore[arg-type]
