"""The summary table printed at the end of ``harness run``, from a result document alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.results.format import cell_warnings, format_ms, presence_text
from harness.results.slo import breach_sentences

__all__ = ["summary_table"]


def summary_table(document: Mapping[str, Any]) -> str:
    header = (
        f"{'cell':<28} {'metric':<14} {'count':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} "
        f"{'lost':>6} {'dup':>5} {'gen cpu':>8}"
    )
    lines = [header, "-" * len(header)]
    for cell in document["cells"]:
        label = f"{cell['server']}+{cell['layer']} x{cell['workers']}"
        cpu = max((p["cpu_percent"]["mean"] for p in cell["generator_health"]["processes"]), default=0.0)
        for name, metric in sorted(cell["metrics"].items()):
            if name == "send_lag":
                continue
            ms = {key: metric[key] / 1000 for key in ("p50", "p99", "p99_9", "max")}
            lines.append(
                f"{label:<28} {name:<14} {metric['count']:>8} {ms['p50']:>8.2f} {ms['p99']:>8.2f} "
                f"{ms['p99_9']:>9.2f} {ms['max']:>8.2f} {cell['delivery']['lost']:>6} "
                f"{cell['delivery']['duplicated']:>5} {cpu:>7.0f}%"
            )
        if cell["generator_health"]["generator_bound"]:
            reasons = "; ".join(cell["generator_health"]["generator_bound_reasons"])
            lines.append(f"!! GENERATOR-BOUND {label}: {reasons}")
        lines.extend(f"!! {warning}" for warning in cell_warnings(cell, label))
    lines += _group_size_lines(document)
    breaches = breach_sentences(document)
    lines.extend(f"SLO breach: {sentence}" for sentence in breaches)
    return "\n".join(lines)


def _group_size_lines(document: Mapping[str, Any]) -> list[str]:
    """Fan-out by group size, each size next to the join storm its members set off before they sent."""
    cells = [c for c in document["cells"] if c.get("fanout_by_group_size") or c.get("join_storm_by_group_size")]
    if not cells:
        return []
    header = (
        f"{'cell':<28} {'size':>5} {'fan-out n':>10} {'p50 ms':>8} {'p99 ms':>8} | {'join storm: presence':>24} "
        f"{'in window':>9} {'storm s':>8} {'settled':>7} {'connected':>10} {'connect p99':>11}"
    )
    lines = ["", "Fan-out by group size (sent once the room was joined) | the join storm before it", header]
    lines.append("-" * len(header))
    for cell in cells:
        label = f"{cell['server']}+{cell['layer']} x{cell['workers']}"
        fanout = {int(g["group_size"]): g["metric"] for g in cell.get("fanout_by_group_size", [])}
        storms = {int(s["group_size"]): s for s in cell.get("join_storm_by_group_size", [])}
        for size in sorted(fanout.keys() | storms.keys()):
            metric, storm = fanout.get(size), storms.get(size)
            left = f"{label:<28} {size:>5} "
            if metric is None:
                left += f"{'-':>10} {'-':>8} {'-':>8}"
            else:
                left += f"{metric['count']:>10,} {format_ms(metric['p50']):>8} {format_ms(metric['p99']):>8}"
            right = ""
            if storm is not None:
                duration = "-" if storm["duration_s"] is None else f"{storm['duration_s']:.1f}"
                connect = format_ms(storm["connect"]["p99"]) + " ms" if storm["connect"]["count"] else "-"
                connected = f"{storm['connected']:,}/{storm['members']:,}"
                right = (
                    f"{presence_text(storm):>24} {storm['presence_after_release']:>9,} {duration:>8} "
                    f"{'yes' if storm['settled'] else 'NO':>7} {connected:>10} {connect:>11}"
                )
            lines.append(f"{left} | {right}".rstrip())
        if 1 in fanout.keys() | storms.keys() and 1 not in fanout:
            lines.append(f"{label}: a group of 1 has no fan-out; its one delivery, the sender's own, is in round_trip")
    return lines
