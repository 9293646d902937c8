from __future__ import annotations

import math
import statistics

import pytest

from harness.schedule import (
    NS_PER_S,
    ConstantRate,
    Pacer,
    Poisson,
    Ramp,
    Schedule,
    Steps,
    response_time_ns,
    send_lag_ns,
    service_time_ns,
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


def test_coordinated_omission_correction():
    intended, sent, received = 1_000, 251_000, 252_000  # the sender was blocked 250 us
    assert service_time_ns(sent, received) == 1_000
    assert response_time_ns(intended, received) == 251_000
    assert send_lag_ns(intended, sent) == 250_000
    assert send_lag_ns(intended, 500) == 0
