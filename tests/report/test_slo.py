"""harness.results.slo: verdicts, their sentences and the exit-code rule."""

from __future__ import annotations

import pytest

from harness.measure.latency import LatencyRecorder
from harness.results.format import format_ms
from harness.results.slo import EXIT_OK, EXIT_SLO_BREACH, breach_sentences, evaluate_slos, exit_code
from harness.scenario import LatencySlo, LossSlo, ThroughputSlo


def cell_with(values_us, *, lost=0, expected=100, received=100, duration_s=10.0, highest=60_000_000):
    rec = LatencyRecorder(highest_trackable_us=highest)
    for v in values_us:
        rec.record_us(v)
    return {
        "server": "daphne",
        "layer": "redis",
        "workers": 1,
        "scenario": "chat",
        "duration_s": duration_s,
        "metrics": {"fanout": rec.result_dict()} if values_us else {},
        "delivery": {"expected": expected, "lost": lost, "received": received},
    }


def test_breach_sentence_has_the_gate_form():
    cell = cell_with([412_000] * 100)
    [v] = evaluate_slos([LatencySlo("fanout", "p99", 250)], cell)
    assert not v.passed
    assert v.sentence == "p99 412 ms > limit 250 ms (chat/fanout, daphne+redis, 1 worker)"
    assert v.to_dict() == {
        "metric": "fanout",
        "statistic": "p99",
        "limit": 250_000.0,
        "bound": "max",
        "observed": float(cell["metrics"]["fanout"]["p99"]),
        "unit": "us",
        "pass": False,
        "sentence": v.sentence,
    }


def test_pass_sentence_and_max_statistic():
    cell = cell_with([1_000] * 50 + [90_000])
    p99, mx = evaluate_slos([LatencySlo("fanout", "p99", 100), LatencySlo("fanout", "max", 80)], cell)
    assert p99.passed and p99.sentence.startswith("p99 1.00 ms <= limit 100 ms")
    assert not mx.passed and mx.observed == pytest.approx(90_000, rel=1e-3)


def test_missing_metric_fails_with_null_observed():
    [v] = evaluate_slos([LatencySlo("round_trip", "p50", 10)], cell_with([100]))
    assert not v.passed and v.observed is None
    assert "no samples of round_trip" in v.sentence


def test_out_of_range_samples_count_toward_percentiles():
    # 98 fast samples and 2 beyond the 10 ms ceiling: the histogram alone says p99 = 1 ms, all samples say more.
    cell = cell_with([1_000] * 98 + [50_000, 50_000], highest=10_000)
    assert cell["metrics"]["fanout"]["p99"] < 2_000
    [p90, p99, mx] = evaluate_slos(
        [LatencySlo("fanout", "p90", 5), LatencySlo("fanout", "p99", 5), LatencySlo("fanout", "max", 60)], cell
    )
    assert p90.passed
    assert not p99.passed and "beyond the histogram range" in p99.sentence
    assert mx.passed and mx.observed == 50_000


def test_loss_and_throughput():
    cell = cell_with([1_000], expected=2_000, lost=12, received=1_988)
    loss, rate = evaluate_slos([LossSlo(0.001), ThroughputSlo(250)], cell)
    assert not loss.passed and loss.observed == pytest.approx(0.006)
    assert loss.sentence == "loss 0.6 % (12 of 2000 lost) > limit 0.1 % (chat/delivery, daphne+redis, 1 worker)"
    assert not rate.passed and rate.bound == "min" and rate.observed == pytest.approx(198.8)
    assert rate.sentence.startswith("throughput 199 msgs/s < minimum 250 msgs/s")
    [ok] = evaluate_slos([LossSlo(0.01)], cell)
    assert ok.passed


def test_loss_with_nothing_expected_fails():
    [v] = evaluate_slos([LossSlo(0.0)], cell_with([1], expected=0, received=0))
    assert not v.passed and v.observed is None


def test_exit_code_rule():
    good = cell_with([1_000] * 10)
    bad = cell_with([400_000] * 10)
    good["slo_verdicts"] = [v.to_dict() for v in evaluate_slos([LatencySlo("fanout", "p99", 250)], good)]
    bad["slo_verdicts"] = [v.to_dict() for v in evaluate_slos([LatencySlo("fanout", "p99", 250)], bad)]
    assert exit_code({"cells": [good]}) == EXIT_OK == 0
    assert exit_code({"cells": [good, bad]}) == EXIT_SLO_BREACH == 3
    assert breach_sentences({"cells": [good, bad]}) == [
        "p99 400 ms > limit 250 ms (chat/fanout, daphne+redis, 1 worker)"
    ]
    assert exit_code({"cells": []}) == EXIT_OK


@pytest.mark.parametrize(
    ("us", "text"), [(412_000, "412"), (41_230, "41.2"), (4_123, "4.12"), (412, "0.412"), (0, "0.000")]
)
def test_format_ms(us, text):
    assert format_ms(us) == text
