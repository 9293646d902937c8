"""Service-level objectives checked against the cells of a result, and the CI exit-code rule.

Objectives come from the scenario (``harness.scenario.Slo``); they are evaluated against a cell *as it appears in
result.json*, so a verdict can be recomputed from the file alone. Each verdict carries one plain sentence, e.g.
``p99 412 ms > limit 250 ms (chat-rooms/fanout, daphne+redis, 1 worker)``, which a CI log prints per breach.

Exit codes: 0 when every objective holds, :data:`EXIT_SLO_BREACH` (3) when any does not, :data:`EXIT_CRASH` (1)
for a run that could not finish, so a gate can tell a slow server from a broken harness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from harness.measure.latency import HistogramDecodeError, LatencyRecorder
from harness.results.format import cell_label, format_ms
from harness.scenario import LatencySlo, LossSlo, Slo, ThroughputSlo

__all__ = [
    "EXIT_CRASH",
    "EXIT_OK",
    "EXIT_SLO_BREACH",
    "Verdict",
    "breach_sentences",
    "evaluate_slos",
    "exit_code",
]

EXIT_OK: Final = 0
EXIT_CRASH: Final = 1
EXIT_SLO_BREACH: Final = 3

_PERCENTILES: Final[Mapping[str, float]] = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9}


def _format_number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _format_percent(ratio: float) -> str:
    return f"{ratio * 100:.3g} %"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one objective on one cell.

    Attributes:
        metric: metric checked, e.g. ``fanout``, ``delivery.lost`` or ``delivery.received``.
        statistic: ``p50`` … ``max``, ``loss_ratio`` or ``msgs_per_s``.
        limit: the limit in :attr:`unit`.
        bound: ``max`` if observed must not exceed the limit, ``min`` if it must reach it.
        observed: the observed value in :attr:`unit`; None when nothing was measured (which fails).
        unit: ``us``, ``ratio`` or ``msgs/s``.
        passed: whether the objective held.
        sentence: the verdict in one sentence, naming scenario, metric and cell.
    """

    metric: str
    statistic: str
    limit: float
    bound: Literal["max", "min"]
    observed: float | None
    unit: str
    passed: bool
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        """Return the ``$defs/slo_verdict`` object of result-v1.json."""
        return {
            "metric": self.metric,
            "statistic": self.statistic,
            "limit": self.limit,
            "bound": self.bound,
            "observed": self.observed,
            "unit": self.unit,
            "pass": self.passed,
            "sentence": self.sentence,
        }


def _where(cell: Mapping[str, Any], metric: str) -> str:
    return f"({cell.get('scenario', '?')}/{metric}, {cell_label(cell)})"


def _latency_observed(slo: LatencySlo, data: Mapping[str, Any]) -> tuple[float | None, bool]:
    """Return the observed value (µs) over *all* samples and whether it is only a lower bound.

    The summary in the cell leaves out-of-range samples out of every percentile, which would let a run with stalls
    beyond the histogram pass; here they are put back: they are the largest samples, so the percentile over all
    samples is a higher percentile of the histogram, or lies beyond its range.
    """
    count = int(data.get("count", 0))
    out_of_range = int(data.get("out_of_range", 0))
    if count + out_of_range == 0:
        return None, False
    if slo.statistic == "max":
        if out_of_range:
            return float(data["max_out_of_range"]), False
        return float(data["max"]), False
    quantile = _PERCENTILES[slo.statistic] / 100.0
    if not out_of_range:
        return float(data[slo.statistic]), False
    within = quantile * (count + out_of_range) / count if count else 2.0
    if within > 1.0:
        return float(data["highest_trackable_us"]), True
    try:
        recorder = LatencyRecorder.decode(data["histogram"])
    except (HistogramDecodeError, KeyError):
        # Without the histogram the summary value is the best available, and it is at most an underestimate.
        return float(data[slo.statistic]), True
    return float(recorder.value_at_percentile(within * 100.0)), False


def _evaluate_latency(slo: LatencySlo, cell: Mapping[str, Any]) -> Verdict:
    limit_us = slo.limit_ms * 1000.0
    metrics = cell.get("metrics", {})
    data = metrics.get(slo.metric) if isinstance(metrics, Mapping) else None
    where = _where(cell, slo.metric)
    limit_text = f"limit {format_ms(limit_us)} ms"
    if data is None:
        observed, lower_bound = None, False
    else:
        observed, lower_bound = _latency_observed(slo, data)
    if observed is None:
        sentence = f"{slo.statistic} not measurable: no samples of {slo.metric}, {limit_text} {where}"
        return Verdict(slo.metric, slo.statistic, limit_us, "max", None, "us", False, sentence)
    if lower_bound:
        # The true value is somewhere above what was measured, so it cannot be shown to be within the limit.
        sentence = f"{slo.statistic} above {format_ms(observed)} ms (beyond the histogram range) > {limit_text} {where}"
        return Verdict(slo.metric, slo.statistic, limit_us, "max", observed, "us", False, sentence)
    passed = observed <= limit_us
    op = "<=" if passed else ">"
    sentence = f"{slo.statistic} {format_ms(observed)} ms {op} {limit_text} {where}"
    return Verdict(slo.metric, slo.statistic, limit_us, "max", observed, "us", passed, sentence)


def _evaluate_loss(slo: LossSlo, cell: Mapping[str, Any]) -> Verdict:
    delivery = cell.get("delivery", {})
    expected = int(delivery.get("expected", 0))
    lost = int(delivery.get("lost", 0))
    where = _where(cell, "delivery")
    limit_text = f"limit {_format_percent(slo.max_lost_ratio)}"
    if expected == 0:
        # Every scenario expects deliveries; none expected means the run did not deliver anything it could judge.
        sentence = f"loss not measurable: no deliveries were expected, {limit_text} {where}"
        return Verdict("delivery.lost", "loss_ratio", slo.max_lost_ratio, "max", None, "ratio", False, sentence)
    ratio = lost / expected
    passed = ratio <= slo.max_lost_ratio
    op = "<=" if passed else ">"
    sentence = f"loss {_format_percent(ratio)} ({lost} of {expected} lost) {op} {limit_text} {where}"
    return Verdict("delivery.lost", "loss_ratio", slo.max_lost_ratio, "max", ratio, "ratio", passed, sentence)


def _evaluate_throughput(slo: ThroughputSlo, cell: Mapping[str, Any]) -> Verdict:
    delivery = cell.get("delivery", {})
    duration = float(cell.get("duration_s", 0.0) or 0.0)
    where = _where(cell, "delivery")
    limit_text = f"minimum {_format_number(slo.min_msgs_per_s)} msgs/s"
    if duration <= 0:
        sentence = f"throughput not measurable: no measurement window, {limit_text} {where}"
        return Verdict("delivery.received", "msgs_per_s", slo.min_msgs_per_s, "min", None, "msgs/s", False, sentence)
    rate = int(delivery.get("received", 0)) / duration
    passed = rate >= slo.min_msgs_per_s
    op = ">=" if passed else "<"
    sentence = f"throughput {_format_number(rate)} msgs/s {op} {limit_text} {where}"
    return Verdict("delivery.received", "msgs_per_s", slo.min_msgs_per_s, "min", rate, "msgs/s", passed, sentence)


def evaluate_slos(slos: Iterable[Slo], cell: Mapping[str, Any]) -> list[Verdict]:
    """Check every objective against one cell of a result document (the ``$defs/cell`` shape).

    A latency objective is judged over all samples, out-of-range ones included; a metric with no samples, a loss
    objective with nothing expected and a throughput objective without a measurement window fail, because nothing
    shows that the objective held.
    """
    verdicts: list[Verdict] = []
    for slo in slos:
        if isinstance(slo, LatencySlo):
            verdicts.append(_evaluate_latency(slo, cell))
        elif isinstance(slo, LossSlo):
            verdicts.append(_evaluate_loss(slo, cell))
        else:
            verdicts.append(_evaluate_throughput(slo, cell))
    return verdicts


def breach_sentences(result: Mapping[str, Any]) -> list[str]:
    """Return the sentence of every failed verdict in a result document, in cell order."""
    sentences: list[str] = []
    cells: Sequence[Mapping[str, Any]] = result.get("cells", [])
    for cell in cells:
        for verdict in cell.get("slo_verdicts", []):
            if not verdict["pass"]:
                sentences.append(str(verdict.get("sentence") or _fallback_sentence(verdict, cell)))
        soak = cell.get("soak")
        if soak is not None and not soak["flat"]:
            growing = [s["name"] for s in (*soak["series"], *soak["latency"]) if s["flat"] is False]
            sentences.append(
                f"soak not flat in {cell['server']}+{cell['layer']} x{cell['workers']}: "
                + (", ".join(growing) if growing else "no series could be judged")
            )
        audit = cell.get("punch_audit")
        if audit is not None and not audit["exactly_once"]:
            # Not an SLO one may choose: a timeclock that loses or doubles a punch fails, whatever else it did.
            sentences.append(
                f"punches not exactly once in {cell['server']}+{cell['layer']} x{cell['workers']}: "
                f"{audit['lost']} lost, {audit['duplicated']} duplicated, {audit['unexpected']} unexpected"
            )
        for fault in cell.get("faults") or ():
            if fault.get("silent_members"):
                # A member owed its room's messages after the fault that heard none until the next one: the app did
                # not recover it (a socket left open without its membership), whatever the loss allowance says.
                sentences.append(
                    f"silent room members after fault {fault.get('label', fault.get('toxic'))} in "
                    f"{cell['server']}+{cell['layer']} x{cell['workers']}: {fault['silent_members']} of "
                    f"{fault.get('members_checked', 0)} heard none of their room's messages sent after it"
                )
    return sentences


def _fallback_sentence(verdict: Mapping[str, Any], cell: Mapping[str, Any]) -> str:
    # Verdicts written by other tools may lack the optional sentence; say what is known rather than nothing.
    return (
        f"{verdict['statistic']} {verdict['observed']} {verdict['unit']} breaks limit {verdict['limit']} "
        f"{_where(cell, str(verdict['metric']))}"
    )


def exit_code(result: Mapping[str, Any]) -> int:
    """:data:`EXIT_CRASH` if the generator's users raised exceptions in any cell, or its test ended early because
    every socket was gone (its figures are incomplete, so its verdicts cannot be trusted either way), or a fault
    window could not begin or end, else :data:`EXIT_SLO_BREACH` if any verdict failed, a punch audit is not
    exactly once, a soak is not flat or a fault window left silent room members, else :data:`EXIT_OK`."""
    for cell in result.get("cells", []):
        health = cell.get("generator_health", {})
        if health.get("user_errors") or health.get("ended_early"):
            return EXIT_CRASH
        # A fault window that could not begin or end: the run is not the one asked for.
        if any(f.get("error") for f in cell.get("faults") or ()):
            return EXIT_CRASH
    return EXIT_SLO_BREACH if breach_sentences(result) else EXIT_OK
