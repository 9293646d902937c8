from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_app.gateway.backoff import Backoff, BackoffPolicy


@given(
    base=st.floats(min_value=0.001, max_value=10),
    factor=st.floats(min_value=1, max_value=1000),
    failures=st.integers(min_value=0, max_value=2000),
    seed=st.integers(),
)
def test_delay_is_within_zero_and_the_capped_ceiling(base: float, factor: float, failures: int, seed: int) -> None:
    policy = BackoffPolicy(base, base * factor)
    backoff = Backoff(policy, random.Random(seed))
    backoff.failures = failures
    delay = backoff.next_delay()
    assert 0 <= delay <= min(policy.max_s, base * 2.0 ** min(failures, 64))
    assert backoff.failures == failures + 1


def test_ceiling_doubles_until_the_cap() -> None:
    policy = BackoffPolicy(0.5, 3.0)
    assert [policy.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.ceiling(10_000) == 3.0


def test_full_jitter_spreads_over_the_whole_window() -> None:
    # A mass reboot: 1000 readers fail at once; their retries must not bunch at the ceiling or at zero.
    delays = [Backoff(BackoffPolicy(1.0, 8.0), random.Random(i)).next_delay() for i in range(1000)]
    deciles = [sum(1 for d in delays if k / 10 <= d < (k + 1) / 10) for k in range(10)]
    assert all(60 <= count <= 140 for count in deciles), deciles


def test_reset_starts_again_from_the_base() -> None:
    backoff = Backoff(BackoffPolicy(0.1, 5.0), random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.1


@pytest.mark.parametrize(
    ("base", "maximum", "message"),
    [
        (0.0, 1.0, "backoff base must be a number > 0"),
        (float("nan"), 1.0, "backoff base must be a number > 0"),
        (1.0, 0.5, "backoff maximum must be a number >= the base"),
        (1.0, float("inf"), "backoff maximum must be a number >= the base"),
    ],
)
def test_bad_policy_is_refused_with_a_reason(base: float, maximum: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackoffPolicy(base, maximum)
