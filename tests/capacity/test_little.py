"""Little's law on per-second counts: agreement in a steady state, a flag when a queue grows, and no verdict
where the counts cannot resolve 10 %."""

from __future__ import annotations

import pytest

from harness.capacity.little import little_check


def steady(rate: int, latency_s: float, seconds: int, recipients: int = 1) -> list[tuple[int, int, int]]:
    """Sends at ``rate``/s spread evenly; each delivered ``latency_s`` later to ``recipients``."""
    rows = []
    for k in range(seconds + 2):
        sent = rate if k < seconds else 0
        # Deliveries in second k are of the sends made in [k - latency, k + 1 - latency).
        start, end = max(0.0, k - latency_s), min(float(seconds), k + 1 - latency_s)
        delivered = round(max(0.0, end - start) * rate) * recipients
        rows.append((1000 + k, sent, delivered))
    return rows


def test_a_steady_state_agrees() -> None:
    check = little_check(steady(400, 0.25, 10, recipients=2), window_s=10, deliveries_per_send=2, latency_mean_s=0.25)
    assert check.expected_in_flight == pytest.approx(200, rel=0.01)
    assert check.in_flight == pytest.approx(200, rel=0.01)
    assert check.gap is not None and abs(check.gap) < 0.02 and not check.flagged


def test_the_flight_is_sampled_only_once_it_has_filled() -> None:
    # Sends begin 0.9 s into the first second: the boundary at its end sees a flight barely begun.
    rows = []
    for k in range(7):
        sent = {0: 40, 5: 360}.get(k, 400) if k <= 5 else 0
        delivered = {0: 0, 1: 340, 6: 60}.get(k, 400)
        rows.append((3000 + k, sent, delivered))
    check = little_check(rows, window_s=5, deliveries_per_send=1, latency_mean_s=0.25)
    assert check.in_flight == pytest.approx(100, rel=0.01) and not check.flagged


def test_a_growing_queue_is_flagged() -> None:
    # 100 sent per second, 80 delivered: the backlog grows by 20 a second, while the mean latency of what was
    # delivered (as a histogram of completed deliveries reports it) stays far below the backlog's age.
    rows = [(2000 + k, 100 if k < 10 else 0, 80) for k in range(12)]
    check = little_check(rows, window_s=10, deliveries_per_send=1, latency_mean_s=0.3)
    assert check.flagged and check.gap is not None and check.gap > 0.10
    assert "beyond ±10 %" in check.sentence


def test_unaccounted_deliveries_are_flagged() -> None:
    rows = steady(400, 0.25, 10)
    # Every delivery counted twice (a duplicate counted as new, say): fewer owed than delivered.
    doubled = [(e, s, 2 * d) for e, s, d in rows]
    check = little_check(doubled, window_s=10, deliveries_per_send=1, latency_mean_s=0.25)
    assert check.flagged


def test_latencies_the_counts_cannot_resolve_are_not_judged() -> None:
    fast = little_check(steady(1000, 0.004, 10), window_s=10, deliveries_per_send=1, latency_mean_s=0.004)
    assert fast.gap is None and not fast.flagged and fast.sentence.startswith("not judged")
    few = little_check(steady(10, 0.5, 10), window_s=10, deliveries_per_send=1, latency_mean_s=0.5)
    assert few.gap is None and "20 in flight" in few.sentence
    nothing = little_check([], window_s=5, deliveries_per_send=1, latency_mean_s=None)
    assert nothing.gap is None and nothing.sentence == "not made: nothing was sent and timed"
