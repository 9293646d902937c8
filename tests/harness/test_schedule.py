from __future__ import annotations

import math
import random
import statistics

import pytest

from harness.load.schedule import (
    NS_PER_S,
    ConstantRate,
    Pacer,
    Poisson,
    Ramp,
    RateCurve,
    Schedule,
    Steps,
    build_schedule,
    parse_stages,
)


def test_constant_rate_count_and_spacing():
    offsets = list(ConstantRate(rate_per_s=200, duration_s=2).offsets_ns())
    assert len(offsets) == 400
    assert offsets[0] == 0
    assert {b - a for a, b in zip(offsets, offsets[1:], strict=False)} == {5_000_000}


def test_constant_rate_does_not_drift_with_inexact_interval():
    offsets = list(ConstantRate(rate_per_s=3, duration_s=100).offsets_ns())
    assert len(offsets) == 300
    assert offsets[-1] == round(299 * NS_PER_S / 3)
    assert all(b - a in (333_333_333, 333_333_334) for a, b in zip(offsets, offsets[1:], strict=False))


def test_poisson_is_reproducible_per_seed():
    a = list(Poisson(rate_per_s=500, duration_s=1, seed=7).offsets_ns())
    assert a == list(Poisson(rate_per_s=500, duration_s=1, seed=7).offsets_ns())
    assert a != list(Poisson(rate_per_s=500, duration_s=1, seed=8).offsets_ns())
    assert a == sorted(a) and a[-1] < NS_PER_S


def test_poisson_mean_rate_and_gap_shape():
    offsets = list(Poisson(rate_per_s=1000, duration_s=10, seed=42).offsets_ns())
    # 10_000 expected; the count's standard deviation is 100, so 5 % is 5 sigma.
    assert abs(len(offsets) - 10_000) < 500
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    mean_gap = statistics.fmean(gaps)
    assert abs(mean_gap - 1_000_000) < 50_000
    # Exponential gaps: standard deviation equals the mean (constant spacing would give 0).
    assert abs(statistics.pstdev(gaps) / mean_gap - 1) < 0.1


def test_ramp_count_and_spacing_follow_the_rate():
    offsets = list(Ramp(start_rate_per_s=100, end_rate_per_s=300, duration_s=2).offsets_ns())
    assert len(offsets) == 400  # (100 + 300) / 2 * 2
    first_gap = offsets[1] - offsets[0]
    last_gap = offsets[-1] - offsets[-2]
    assert first_gap == pytest.approx(NS_PER_S / 100, rel=0.02)
    assert last_gap == pytest.approx(NS_PER_S / 300, rel=0.02)
    first_half = sum(1 for t in offsets if t < NS_PER_S)
    assert first_half == pytest.approx(150, abs=1)  # integral of the rate over the first second


def test_ramp_from_zero_and_down_to_zero():
    up = list(Ramp(0, 100, 2).offsets_ns())
    down = list(Ramp(100, 0, 2).offsets_ns())
    assert len(up) == len(down) == 100
    assert up[1] == round(math.sqrt(2 * 1 / 50) * NS_PER_S)  # a*t^2/2 = 1 with slope 50/s^2
    assert down[1] - down[0] < up[1] - up[0]


def test_ramp_constant_equals_constant_rate():
    assert list(Ramp(50, 50, 1).offsets_ns()) == list(ConstantRate(50, 1).offsets_ns())


def test_steps_shape():
    offsets = list(Steps([(2, 1), (0, 1), (4, 0.5)]).offsets_ns())
    assert offsets == [0, 500_000_000, 2_000_000_000, 2_250_000_000]
    assert Steps([(2, 1), (0, 1), (4, 0.5)]).duration_ns == 2_500_000_000


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ConstantRate(0, 1), "rate_per_s must be a finite number > 0"),
        (lambda: ConstantRate(10, -1), "duration_s must be a finite number > 0"),
        (lambda: ConstantRate(float("inf"), 1), "rate_per_s"),
        (lambda: ConstantRate(True, 1), "rate_per_s"),
        (lambda: Poisson(10, 1, seed=1.5), "seed must be an int"),
        (lambda: Ramp(0, 0, 1), "cannot both be 0"),
        (lambda: Ramp(-1, 5, 1), "start_rate_per_s must be a finite number >= 0"),
        (lambda: Steps([]), "at least one"),
        (lambda: Steps([(1, 0)]), r"steps\[0\] duration_s"),
        (lambda: Steps([(1, 1), (1,)]), r"steps\[1\] must be a"),
    ],
)
def test_invalid_arguments_are_explained(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_schedules_satisfy_protocol():
    for s in (ConstantRate(1, 1), Poisson(1, 1, seed=0), Ramp(1, 2, 1), Steps([(1, 1)])):
        assert isinstance(s, Schedule)


def test_pacer_wait_and_lag_with_fake_clock():
    pacer = Pacer(ConstantRate(rate_per_s=10, duration_s=0.5), start_ns=1_000_000_000)
    s0 = pacer.next_slot(now_ns=900_000_000)  # 100 ms early
    assert (s0.seq, s0.intended_ns, s0.wait_ns, s0.lag_ns) == (0, 1_000_000_000, 100_000_000, 0)
    # The sender stalled: at 1.35 s the slot due at 1.1 s is 250 ms late.
    s1 = pacer.next_slot(now_ns=1_350_000_000)
    assert (s1.seq, s1.intended_ns, s1.wait_ns, s1.lag_ns) == (1, 1_100_000_000, 0, 250_000_000)
    # Late slots are still handed out in order, not skipped.
    s2 = pacer.next_slot(now_ns=1_350_000_000)
    assert (s2.seq, s2.lag_ns) == (2, 150_000_000)
    assert pacer.late_slots == 2 and pacer.max_lag_ns == 250_000_000
    assert [pacer.next_slot(2_000_000_000).seq for _ in range(2)] == [3, 4]
    assert pacer.next_slot(2_000_000_000) is None
    assert pacer.handed_out == 5


def test_one_constant_rate_curve_segment_is_the_ramp():
    for start, end in ((1.0, 10.0), (10.0, 0.0), (0.0, 4.0), (3.0, 3.0)):
        assert list(RateCurve([(start, end, 20.0)], "constant").offsets_ns()) == list(
            Ramp(start, end, 20.0).offsets_ns()
        )


def test_multi_stage_ramp_is_continuous_and_follows_each_stage():
    curve = RateCurve([(0.0, 100.0, 2.0), (100.0, 100.0, 1.0), (100.0, 0.0, 2.0)], "constant")
    offsets = list(curve.offsets_ns())
    # The integral of the rate: 100 + 100 + 100 messages.
    assert len(offsets) == 300
    assert offsets == sorted(offsets) and offsets[-1] < curve.duration_ns
    in_flat = [t for t in offsets if 2 * NS_PER_S <= t < 3 * NS_PER_S]
    assert len(in_flat) == 100


def _gaps_cv(offsets, lo_s, hi_s):
    part = [t for t in offsets if lo_s * NS_PER_S <= t < hi_s * NS_PER_S]
    gaps = [b - a for a, b in zip(part, part[1:], strict=False)]
    return len(part), statistics.pstdev(gaps) / statistics.fmean(gaps)


def test_poisson_under_steps_is_poisson_at_each_steps_rate():
    schedule = build_schedule(
        arrival="poisson",
        shape="steps",
        rate=0.0,
        rate_end=0.0,
        stages=[(50.0, 20.0), (500.0, 10.0), (50.0, 20.0)],
        duration_s=0.0,
        seed=13,
    )
    offsets = list(schedule.offsets_ns())
    quiet, quiet_cv = _gaps_cv(offsets, 0, 20)
    burst, burst_cv = _gaps_cv(offsets, 20, 30)
    # Counts are Poisson (sd = sqrt(mean)): within 5 sd of 1,000 and 5,000.
    assert abs(quiet - 1_000) < 5 * math.sqrt(1_000) and abs(burst - 5_000) < 5 * math.sqrt(5_000)
    # Exponential gaps have a coefficient of variation of 1; evenly spaced sends have 0.
    assert 0.9 < quiet_cv < 1.1 and 0.9 < burst_cv < 1.1
    again = build_schedule(
        arrival="poisson", shape="steps", rate=0.0, rate_end=0.0, stages=[(50.0, 20.0), (500.0, 10.0), (50.0, 20.0)],
        duration_s=0.0, seed=13,
    )  # fmt: skip
    assert list(again.offsets_ns()) == offsets, "reproducible from the seed"


def test_poisson_under_a_ramp_follows_the_rising_rate():
    schedule = build_schedule(
        arrival="poisson", shape="ramp", rate=0.0, rate_end=0.0, stages=[(400.0, 20.0)], duration_s=0.0, seed=5
    )
    offsets = list(schedule.offsets_ns())
    first, _ = _gaps_cv(offsets, 0, 10)
    second, cv = _gaps_cv(offsets, 10, 20)
    # Expected 1,000 in the first half and 3,000 in the second.
    assert abs(first - 1_000) < 5 * math.sqrt(1_000) and abs(second - 3_000) < 5 * math.sqrt(3_000)
    assert 0.85 < cv < 1.15


def test_build_schedule_keeps_the_old_spelling_and_the_constant_shapes():
    steps = build_schedule(
        arrival="steps", shape="constant", rate=1.0, rate_end=0.0, stages=[(2.0, 1.0)], duration_s=5.0, seed=1
    )
    phase = random.Random(1).random()
    assert steps == Steps([(2.0, 1.0)], phase)
    ramp = build_schedule(arrival="ramp", shape="constant", rate=1.0, rate_end=9.0, stages=[], duration_s=4.0, seed=1)
    assert ramp == RateCurve([(1.0, 9.0, 4.0)], "constant", 1, phase)
    # At phase 0 a constant curve is the Ramp.
    assert list(RateCurve([(1.0, 9.0, 4.0)], "constant").offsets_ns()) == list(Ramp(1.0, 9.0, 4.0).offsets_ns())
    assert build_schedule(
        arrival="poisson", shape="constant", rate=3.0, rate_end=0.0, stages=[], duration_s=2.0, seed=7
    ) == Poisson(3.0, 2.0, seed=7)
    with pytest.raises(ValueError, match="shape must be constant, ramp or steps"):
        build_schedule(arrival="constant", shape="wave", rate=1.0, rate_end=0.0, stages=[], duration_s=1.0, seed=1)


def test_parse_stages_names_the_bad_stage():
    assert parse_stages("5:10, 0.5:2") == [(5.0, 10.0), (0.5, 2.0)]
    assert parse_stages("") == []
    with pytest.raises(ValueError, match="stage 1 is '7'; expected rate:seconds"):
        parse_stages("5:10,7")


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([], "at least one"),
        ([(0.0, 0.0, 1.0)], "rate 0"),
        ([(1.0, -1.0, 1.0)], "end rate must be a finite number >= 0"),
        ([(1.0, 1.0, 0.0)], "duration_s must be a finite number > 0"),
        ([(1.0, 1.0)], "triple"),
    ],
)
def test_rate_curve_refuses_bad_segments(segments, message):
    with pytest.raises(ValueError, match=message):
        RateCurve(segments, "constant")


def test_constant_senders_are_not_in_lockstep():
    """20 senders at 20/s that start one gap apart: without a phase each gap would begin with a burst of all 20."""
    gap_ns = NS_PER_S // 20
    phases = []
    for user in range(20):
        schedule = build_schedule(
            arrival="constant",
            shape="constant",
            rate=20.0,
            rate_end=0.0,
            stages=[],
            duration_s=1.0,
            seed=41 * 1_000_003 + user,
        )
        offsets = list(schedule.offsets_ns())
        assert len(offsets) == 20 and all(
            b - a in (gap_ns - 1, gap_ns, gap_ns + 1) for a, b in zip(offsets, offsets[1:], strict=False)
        )
        phases.append(offsets[0] / gap_ns)
    assert all(0.0 <= phase < 1.0 for phase in phases)
    # Spread over the gap: no tenth of it holds more than 6 of the 20 (lockstep would put all 20 in one).
    assert max(sum(1 for phase in phases if k / 10 <= phase < (k + 1) / 10) for k in range(10)) <= 6
    again = build_schedule(
        arrival="constant", shape="constant", rate=20.0, rate_end=0.0, stages=[], duration_s=1.0, seed=41 * 1_000_003
    )
    assert next(again.offsets_ns()) / gap_ns == phases[0]
    steps = build_schedule(
        arrival="constant",
        shape="steps",
        rate=0.0,
        rate_end=0.0,
        stages=[(4.0, 1.0), (2.0, 1.0)],
        duration_s=0.0,
        seed=3,
    )
    phase = random.Random(3).random()
    assert list(steps.offsets_ns()) == [round((k + phase) * NS_PER_S / 4) for k in range(4)] + [
        NS_PER_S + round((k + phase) * NS_PER_S / 2) for k in range(2)
    ]


@pytest.mark.parametrize("phase", [-0.1, 1.0, 2, True])
def test_a_phase_outside_one_gap_is_refused(phase: float) -> None:
    with pytest.raises(ValueError, match=r"phase must be a fraction of a gap in \[0, 1\)"):
        ConstantRate(1.0, 1.0, phase)
    with pytest.raises(ValueError, match="phase must be"):
        Steps([(1.0, 1.0)], phase)
    with pytest.raises(ValueError, match="phase must be"):
        RateCurve([(1.0, 1.0, 1.0)], "constant", 0, phase)
