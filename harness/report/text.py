"""The summary table printed at the end of ``harness run``, from a result document alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.results.format import foreign_sentence
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
        foreign = foreign_sentence(cell)
        if foreign is not None:
            lines.append(f"!! {label}: {foreign}")
    breaches = breach_sentences(document)
    lines.extend(f"SLO breach: {sentence}" for sentence in breaches)
    return "\n".join(lines)
