"""Objectives written on a command line (``--slo 'p99<250ms'``), parsed into the scenario's objective types.

The forms, in full in docs/capacity.md:

- ``p99<250ms``, ``p50<=20ms``, ``max<1s``, ``p99_9<500ms``: a latency statistic of ``response_time`` (from each
  message's intended send time, so coordinated omission counts); ``<`` and ``<=`` both mean "at most", since the
  histogram resolves values to 0.1 %.
- ``fanout.p99<250ms``: the same for another metric (``round_trip``, ``fanout``, ``service_time``, ...).
- ``loss<=0``, ``loss<=0.1%``: lost deliveries over expected ones.
- ``throughput>=450/s``: deliveries per second of the measurement window.
"""

from __future__ import annotations

import re
from typing import Final, cast

from harness.measure.latency import KNOWN_METRICS
from harness.scenario import STATISTICS, LatencySlo, LossSlo, Slo, Statistic, ThroughputSlo

__all__ = ["DEFAULT_LATENCY_METRIC", "SloTextError", "parse_slo_text", "slo_text"]

#: The metric of a latency objective that names none.
DEFAULT_LATENCY_METRIC: Final = "response_time"

_LATENCY: Final = re.compile(
    r"^(?:(?P<metric>[a-z_]+)\.)?(?P<stat>p\d+(?:[._]\d+)?|max)(?P<op><=?)(?P<value>[\d.]+)(?P<unit>us|µs|ms|s)$"
)
_LOSS: Final = re.compile(r"^loss(?P<op><=?)(?P<value>[\d.]+)(?P<percent>%?)$")
_THROUGHPUT: Final = re.compile(r"^throughput>=(?P<value>[\d.]+)(?:/s)?$")
_UNIT_MS: Final = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0}


class SloTextError(ValueError):
    """A command-line objective that does not parse; the message shows the accepted forms."""


_FORMS: Final = "p99<250ms, fanout.p99<250ms, max<1s, loss<=0, loss<=0.1%, throughput>=450/s"


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SloTextError(f"{what}: {text!r} is not a number") from None


def parse_slo_text(text: str) -> Slo:
    """Parse one objective.

    Raises:
        SloTextError: naming the text and the accepted forms.
    """
    compact = "".join(text.split())
    latency = _LATENCY.match(compact)
    if latency:
        metric = latency["metric"] or DEFAULT_LATENCY_METRIC
        if metric not in KNOWN_METRICS:
            raise SloTextError(f"--slo {text!r}: unknown metric {metric!r}; known: {', '.join(KNOWN_METRICS)}")
        statistic = latency["stat"].replace(".", "_")
        if statistic not in STATISTICS:
            raise SloTextError(
                f"--slo {text!r}: statistic {latency['stat']!r}; expected one of {', '.join(STATISTICS)}"
            )
        limit_ms = _number(latency["value"], f"--slo {text!r}") * _UNIT_MS[latency["unit"]]
        if limit_ms <= 0:
            raise SloTextError(f"--slo {text!r}: the limit must be above 0")
        return LatencySlo(metric, cast(Statistic, statistic), limit_ms)
    loss = _LOSS.match(compact)
    if loss:
        ratio = _number(loss["value"], f"--slo {text!r}") / (100.0 if loss["percent"] else 1.0)
        if loss["op"] == "<" and ratio == 0:
            raise SloTextError(f"--slo {text!r}: loss cannot be below 0; write loss<=0 for no loss at all")
        if not 0 <= ratio < 1:
            raise SloTextError(f"--slo {text!r}: expected a loss ratio in [0, 1) or a per cent below 100 %")
        return LossSlo(ratio)
    throughput = _THROUGHPUT.match(compact)
    if throughput:
        value = _number(throughput["value"], f"--slo {text!r}")
        if value <= 0:
            raise SloTextError(f"--slo {text!r}: the throughput must be above 0")
        return ThroughputSlo(value)
    raise SloTextError(f"--slo {text!r}: not an objective; expected a form like {_FORMS}")


def slo_text(slo: Slo) -> str:
    """An objective written back in the command-line form (for tables and sentences)."""
    if isinstance(slo, LatencySlo):
        prefix = "" if slo.metric == DEFAULT_LATENCY_METRIC else f"{slo.metric}."
        return f"{prefix}{slo.statistic}<={slo.limit_ms:g}ms"
    if isinstance(slo, LossSlo):
        return f"loss<={slo.max_lost_ratio * 100:g}%" if slo.max_lost_ratio else "loss<=0"
    return f"throughput>={slo.min_msgs_per_s:g}/s"
