"""The soak verdict: flat, not merely bounded (harness/measure/soak.py)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from harness.measure.soak import SoakSettings, soak_verdict, theil_sen_slope
from harness.scenario import ScenarioError, parse_scenario

SETTINGS = SoakSettings(settle_s=120, window_s=300, max_growth=0.05)
SPAN = 1800.0
MIB = 2**20


def _series(value: Callable[[float], float], seed: int = 1, noise: float = 0.0) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(float(t), value(t) + rng.uniform(-noise, noise)) for t in range(0, 1801, 2)]


def test_a_slow_leak_under_any_ceiling_is_growing() -> None:
    # 40 KiB a minute: 1.2 MiB an hour-half, far under a 512 MiB limit, and the verdict still says it grows.
    leak = _series(lambda t: 100 * MIB + t * 4_000 * 10, noise=1 * MIB)
    verdict = soak_verdict(SETTINGS, SPAN, {"app rss": ("rss_bytes", leak)}, {})
    (rss,) = verdict.series
    assert rss.flat is False and not verdict.flat
    assert "GROWING: app rss" in verdict.sentences()[0]


def test_noise_around_a_flat_level_is_flat() -> None:
    flat = _series(lambda t: 100 * MIB, noise=3 * MIB)
    fds = _series(lambda t: 200, noise=3)
    verdict = soak_verdict(SETTINGS, SPAN, {"rss": ("rss_bytes", flat), "fds": ("num_fds", fds)}, {})
    assert verdict.flat and all(s.flat for s in verdict.series)


def test_a_start_up_climb_inside_the_settle_period_is_not_a_leak() -> None:
    warm = _series(lambda t: min(t, 100) * MIB)  # grows for 100 s, then holds
    verdict = soak_verdict(SETTINGS, SPAN, {"rss": ("rss_bytes", warm)}, {})
    assert verdict.flat


def test_a_trend_is_caught_even_when_the_two_windows_agree() -> None:
    # Groups pile up through the middle of the run, and a late sweep brings the level back just before the end:
    # the early and late medians match, the trend over the run does not.
    def members(t: float) -> float:
        return 100 + (t - 200) * 0.5 if 200 < t < 1700 else 100

    verdict = soak_verdict(
        SoakSettings(settle_s=120, window_s=60), SPAN, {"members": ("redis_group_members", _series(members))}, {}
    )
    (series,) = verdict.series
    assert series.early == series.late == 100
    assert series.flat is False and series.trend is not None and series.allowance is not None
    assert series.trend > series.allowance


def test_latency_drift_is_judged_by_its_own_allowance() -> None:
    drifting = _series(lambda t: 20_000 + t * 20)  # p99 from 20 ms to 56 ms
    steady = _series(lambda t: 20_000, noise=3_000)
    verdict = soak_verdict(SETTINGS, SPAN, {}, {"drift": drifting, "steady": steady})
    assert [s.flat for s in verdict.latency] == [False, True]


def test_too_few_samples_cannot_be_judged_and_do_not_pass_alone() -> None:
    sparse = [(130.0, 1.0), (1700.0, 1.0)]
    verdict = soak_verdict(SETTINGS, SPAN, {"x": ("num_fds", sparse)}, {})
    assert verdict.series[0].flat is None and not verdict.flat


def test_theil_sen_ignores_a_few_spikes() -> None:
    points = [(float(t), 2.0 * t + (1000.0 if t % 17 == 0 else 0.0)) for t in range(200)]
    slope = theil_sen_slope(points)
    assert slope is not None and abs(slope - 2.0) < 0.05


@pytest.mark.parametrize(
    ("soak", "message"),
    [
        ({"window_s": 0}, "[soak].window_s"),
        ({"settle_s": 100, "window_s": 20}, "do not fit"),
        ({"max_growth": -1}, "[soak].max_growth"),
        ({"window": 3}, "[soak]"),
    ],
)
def test_a_bad_soak_table_names_its_key(soak: dict[str, object], message: str) -> None:
    doc = {
        "name": "s",
        "description": "s",
        "kind": "echo",
        "duration_s": 60,
        "warmup_s": 0,
        "seed": 1,
        "load": {"users": 2, "spawn_rate": 10, "rate": 1},
        "soak": soak,
    }
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(doc, where="s.toml")
    assert message in str(caught.value)


def test_a_small_series_gets_its_noise_floor_not_a_ratio() -> None:
    # 5 % of 12 fds is under one fd: without the floor, one socket more late in the run would fail the soak.
    fds = [(float(t), 12.0 if t < 1000 else 14.0) for t in range(0, 1801, 2)]
    verdict = soak_verdict(SETTINGS, SPAN, {"fds": ("num_fds", fds)}, {})
    assert verdict.flat and verdict.series[0].allowance == 4
