"""The step table of a capacity search, from its ``$defs/search`` object in capacity.json alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.results.format import busiest_process, busiest_text, format_ms

__all__ = ["plan_table", "scaling_table", "step_table"]


def _ms(value: float | None) -> str:
    return "–" if value is None else format_ms(value)


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"


def _load(value: float, integer: bool) -> str:
    return f"{value:,.0f}" if integer or value >= 100 else f"{value:,.3g}"


def step_table(search: Mapping[str, Any]) -> str:
    """One row per trial: the load, its phase, verdict, latency, loss, send rates, server and generator figures, and
    the predicates that failed. Figures a trial did not measure show as ``–``."""
    dimension = search["dimension"]
    metric = search["trials"][0]["figures"]["metric"] if search["trials"] else "response_time"
    header = (
        f"{'load (' + dimension['unit'] + ')':>18} {'phase':<12} {'#':>2} {'verdict':<7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'loss':>7} {'offered/s':>10} {'achieved/s':>10} {'deliv/s':>9} {'srv cpu':>7} "
        f"{'srv MB':>7} {'gen cpu':>7}  {'busiest server process':<26} failed"
    )
    lines = [f"latency: {metric} (µs HDR over each trial's send window)", header, "-" * len(header)]
    for trial in search["trials"]:
        f = trial["figures"]
        loss = "–" if f["loss_ratio"] is None else f"{f['loss_ratio']:.2%}"
        cpu = "–" if f["server_cpu_percent"] is None else f"{f['server_cpu_percent']:.0f}%"
        rss = "–" if f["server_rss_bytes"] is None else f"{f['server_rss_bytes'] / 2**20:,.0f}"
        gen = "–" if f["generator_cpu_percent"] is None else f"{f['generator_cpu_percent']:.0f}%"
        failed = ", ".join(c["name"] for c in trial["checks"] if not c["pass"])
        busiest = busiest_text(busiest_process(f))
        lines.append(
            f"{_load(trial['load'], dimension['integer']):>18} {trial['phase']:<12} {trial['trial']:>2} "
            f"{'pass' if trial['pass'] else 'FAIL':<7} {_ms(f['p50_us']):>8} {_ms(f['p99_us']):>8} "
            f"{_ms(f['max_us']):>8} {loss:>7} {_rate(f['offered_per_s']):>10} {_rate(f['achieved_per_s']):>10} "
            f"{_rate(f['deliveries_per_s']):>9} {cpu:>7} {rss:>7} {gen:>7}  {busiest:<26} {failed}"
        )
    for trial in search.get("reopened", []):
        f = trial["figures"]
        lines.append(
            f"not judged: {_load(trial['load'], dimension['integer'])} {dimension['unit']} ({trial['phase']}, trial "
            f"{trial['trial']}) opened at {f['opened_per_s']:,.0f}/s lost {f['connect_failures']:,} connects and ran "
            "again more slowly"
        )
    return "\n".join(lines)


def scaling_table(scaling: Mapping[str, Any]) -> str:
    """The points of a scaling model, which were left out and why, and the USL fit or why it was refused."""
    lines = [f"{scaling['n']:>16} {'deliveries/s':>14}  used in the fit"]
    for point in scaling["points"]:
        throughput = "–" if point["throughput"] is None else f"{point['throughput']:,.0f}"
        lines.append(f"{point['n']:>16g} {throughput:>14}  {point['excluded'] or 'yes'}")
    fit = scaling["fit"]
    if fit is None:
        lines.append(f"USL not fitted: {scaling['refused']}")
        return "\n".join(lines)
    intervals = fit["intervals"]

    def interval(name: str) -> str:
        if name not in intervals:
            return ""
        low, high = intervals[name]
        return f" [{low:.3g}, {high:.3g}]"

    lines.append(
        f"USL: λ = {fit['lambda']:,.1f}/s{interval('lam')}, σ = {fit['sigma']:.3g}{interval('sigma')}, "
        f"κ = {fit['kappa']:.3g}{interval('kappa')}; peak N* = {fit['n_star']:.3g}{interval('n_star')} at "
        f"{fit['x_star']:,.0f}/s ({fit['confidence']:.0%} bootstrap intervals over {fit['resamples']} resamples)"
    )
    return "\n".join(lines)


def plan_table(answer: Mapping[str, Any]) -> str:
    """One row per part of a plan: how the search ended, how much held and where it failed, the CPU the servers
    and the generator used at the load found (100 % = one core), and the busiest server-side process then."""
    header = (
        f"{'part':<8} {'outcome':<16} {'holds':>9} {'fails at':>9} {'unit':<12} {'srv cpu':>7} {'gen cpu':>7}  "
        f"{'busiest server process':<26} failed  /  load"
    )
    lines = [f"plan {answer['plan']}", header, "-" * len(header)]
    for row in answer["parts"]:
        holds = "–" if row["last_pass"] is None else f"{row['last_pass']:,.0f}"
        fails = "–" if row["first_fail"] is None else f"{row['first_fail']:,.0f}"
        cpu = "–" if row["server_cpu_percent"] is None else f"{row['server_cpu_percent']:.0f}%"
        gen = "–" if row["generator_cpu_percent"] is None else f"{row['generator_cpu_percent']:.0f}%"
        failed = ", ".join(row["first_fail_checks"]) or "–"
        busiest = busiest_text(row.get("busiest_process"))
        lines.append(
            f"{row['part']:<8} {row['outcome'].replace('_', ' '):<16} {holds:>9} {fails:>9} {row['unit']:<12} "
            f"{cpu:>7} {gen:>7}  {busiest:<26} {failed}  /  {row['what']}, {row['how']}"
        )
    return "\n".join(lines)
