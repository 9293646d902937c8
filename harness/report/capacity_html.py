"""A capacity search's report.html, rendered from its ``capacity.json`` alone (self-contained, no JavaScript).

Per search: the answer, the capacity curve (every trial's latency against its load, with the objective's limit
drawn, and its loss), and every trial with its figures and the predicates it failed.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from harness.report.charts import Axis, Series, fmt_number, line_chart, palette_color
from harness.report.html import fingerprint_table, page, table
from harness.results.format import busiest_process, busiest_text, format_ms
from harness.scenario import LatencySlo, LossSlo
from harness.scenario.slo_text import SloTextError, parse_slo_text

__all__ = ["render_capacity_report"]

_OUTCOME_CLASS = {"found": "pass", "holds_at_maximum": "pass", "fails_at_minimum": "fail", "unconfirmed": "none"}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _limits(search: Mapping[str, Any]) -> tuple[LatencySlo | None, LossSlo | None]:
    latency = loss = None
    for text in search["slos"]:
        try:
            slo = parse_slo_text(text)
        except SloTextError:
            continue  # written by another version: the chart goes without that line
        if isinstance(slo, LatencySlo) and latency is None:
            latency = slo
        elif isinstance(slo, LossSlo) and loss is None:
            loss = slo
    return latency, loss


def _load_axis(search: Mapping[str, Any]) -> Axis:
    loads = [float(t["load"]) for t in search["trials"]]
    wide = bool(loads) and min(loads) > 0 and max(loads) / min(loads) > 20
    return Axis(f"load ({search['dimension']['unit']})", wide, fmt_number)


def _curve(search: Mapping[str, Any]) -> str:
    trials = sorted(search["trials"], key=lambda t: (float(t["load"]), t["step"], t["trial"]))
    latency, loss = _limits(search)
    metric = trials[0]["figures"]["metric"] if trials else "response_time"
    statistic = latency.statistic if latency is not None else "p99"
    # A trial records p50, p99 and max; an objective on another percentile is drawn against the p99.
    shown = statistic if statistic in ("p50", "p99") else "p99"
    key = f"{shown}_us"
    x = _load_axis(search)
    lo = min((float(t["load"]) for t in trials), default=0.0)
    hi = max((float(t["load"]) for t in trials), default=0.0)
    color, dashed = palette_color(0)
    series = [
        Series(
            f"{metric} {shown} of each trial",
            color,
            tuple((float(t["load"]), None if t["figures"][key] is None else t["figures"][key] / 1000) for t in trials),
            dashed,
        ),
        Series(
            f"{metric} max of each trial",
            palette_color(1)[0],
            tuple(
                (float(t["load"]), None if t["figures"]["max_us"] is None else t["figures"]["max_us"] / 1000)
                for t in trials
            ),
            True,
        ),
    ]
    if latency is not None:
        series.append(
            Series(
                f"limit {statistic} ≤ {latency.limit_ms:g} ms",
                "#c00",
                ((lo, latency.limit_ms), (hi, latency.limit_ms)),
                True,
            )
        )
    charts = [line_chart(f"Latency against load ({metric})", series, x, Axis("ms", True, fmt_number))]
    loss_series = [
        Series(
            "lost deliveries, % of expected",
            palette_color(2)[0],
            tuple(
                (float(t["load"]), None if t["figures"]["loss_ratio"] is None else 100 * t["figures"]["loss_ratio"])
                for t in trials
            ),
        )
    ]
    if loss is not None:
        loss_series.append(
            Series(
                f"limit {100 * loss.max_lost_ratio:g} %",
                "#c00",
                ((lo, 100 * loss.max_lost_ratio), (hi, 100 * loss.max_lost_ratio)),
                True,
            )
        )
    charts.append(line_chart("Loss against load", loss_series, x, Axis("% lost", False, fmt_number, zero_based=True)))
    return "".join(charts)


def _trials_table(search: Mapping[str, Any]) -> str:
    rows = []
    for t in search["trials"]:
        f = t["figures"]

        def shown(value: Any, pattern: str = "{:,.1f}") -> str:
            return "–" if value is None else pattern.format(value)

        verdict = "pass" if t["pass"] else "fail"
        rss = None if f["server_rss_bytes"] is None else f["server_rss_bytes"] / 2**20
        numbers = [
            str(t["step"]),
            fmt_number(float(t["load"])),
            None,
            str(t["trial"]),
            f"{t['duration_s']:g}",
            None,
            *("–" if f[k] is None else format_ms(f[k]) for k in ("p50_us", "p99_us", "max_us")),
            shown(f["loss_ratio"], "{:.2%}"),
            shown(f["offered_per_s"]),
            shown(f["achieved_per_s"]),
            shown(f["deliveries_per_s"]),
            shown(f["server_cpu_percent"], "{:.0f} %"),
            shown(rss, "{:,.0f}"),
            shown(f["generator_cpu_percent"], "{:.0f} %"),
            busiest_text(busiest_process(f)),
        ]
        cells = [
            f"<td>{_e(t['phase'])}</td>"
            if i == 2
            else f"<td class='{verdict}'>{verdict}</td>"
            if i == 5
            else f"<td class='n'>{_e(v)}</td>"
            for i, v in enumerate(numbers)
        ]
        failed = "; ".join(c["sentence"] for c in t["checks"] if not c["pass"]) or "–"
        notes = "; ".join(t["notes"]) or "–"
        rows.append(f"<tr>{''.join(cells)}<td>{_e(failed)}</td><td>{_e(notes)}</td></tr>")
    headers = (
        "load #",
        "load",
        "phase",
        "trial",
        "s",
        "verdict",
        "p50 ms",
        "p99 ms",
        "max ms",
        "loss",
        "offered/s",
        "achieved/s",
        "delivered/s",
        "server CPU",
        "server MB",
        "generator CPU",
        "busiest server process",
        "failed predicates",
        "notes",
    )
    return table(f"trials-{search['search_id']}", headers, rows)


def _search_section(search: Mapping[str, Any]) -> str:
    cls = _OUTCOME_CLASS.get(str(search["outcome"]), "none")
    plan = search["plan"]
    how = (
        "servers restarted before every trial"
        if plan["restart_before_trial"]
        else f"a target: not restarted; {plan['settle_after_failure_s']:g} s of settling after a failed trial"
    )
    notes = [
        f"dimension {search['dimension']['name']}: {search['dimension']['description']}",
        f"trials of {plan['trial_s']:g} s, confirmation {plan['trial_s'] * plan['confirm_factor']:g} s; a load "
        f"passes with {plan['majority']} of at most {plan['trials_per_load']} trials; precision "
        f"{plan['precision']:.0%}; {how}",
        f"{len(search['trials'])} trials over {len(search['loads'])} loads in {search['wall_s'] / 60:.1f} min",
    ]
    opening = plan.get("opening")
    if opening is not None:
        rates = sorted({t["figures"]["opened_per_s"] for t in search["trials"] if t["figures"]["opened_per_s"]})
        notes.append(
            f"connections opened at {', '.join(f'{r:,.0f}' for r in rates)}/s "
            + (
                f"(from the scenario's {opening['spawn_rate']:,.0f}/s, faster while the handshakes kept up, more "
                f"slowly after connects failed: {opening['reopenings']} trial(s) ran again more slowly, not judged: "
                + (
                    ", ".join(
                        f"{fmt_number(float(t['load']))} at {t['figures']['opened_per_s']:,.0f}/s lost "
                        f"{t['figures']['connect_failures']:,} connects"
                        for t in search.get("reopened", [])
                    )
                    or "none"
                )
                + ")"
                if opening["adaptive"]
                else "(a fixed rate)"
            )
        )
    if search["non_monotone"]:
        notes.append(
            "passed at or above a failing load (noise, or a server not monotone in the load): "
            + ", ".join(fmt_number(v) for v in search["non_monotone"])
        )
    items = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return (
        f"<h2>{_e(search['where'])}: {_e(search['dimension']['name'])}</h2>"
        f'<div class="verdict {cls}">{_e(search["sentence"])}</div><ul>{items}</ul>'
        f"{_curve(search)}<h3>Trials</h3>{_trials_table(search)}"
    )


def _scaling_section(scaling: Mapping[str, Any]) -> str:
    """The measured points (used and left out) and the fitted USL curve, its extrapolation dashed."""
    used = tuple((float(p["n"]), p["throughput"]) for p in scaling["points"] if p["excluded"] is None)
    left_out = tuple((float(p["n"]), p["throughput"]) for p in scaling["points"] if p["excluded"] is not None)
    series = [Series("measured, used in the fit", palette_color(0)[0], used)]
    if left_out:
        series.append(Series("measured, left out", palette_color(3)[0], left_out, True))
    fit = scaling["fit"]
    if fit is not None:
        inside = tuple((float(c["n"]), float(c["throughput"])) for c in scaling["curve"] if not c["extrapolated"])
        beyond = tuple((float(c["n"]), float(c["throughput"]) if c["extrapolated"] else None) for c in scaling["curve"])
        series.append(Series("USL fit (measured range)", palette_color(1)[0], inside))
        series.append(Series("USL extrapolation", palette_color(1)[0], beyond, True))
        text = (
            f"λ = {fit['lambda']:,.1f}/s, σ = {fit['sigma']:.3g}, κ = {fit['kappa']:.3g}; peak at N* = "
            f"{fit['n_star']:.3g} ({fit['x_star']:,.0f}/s). Beyond the measured N the curve is an extrapolation."
        )
    else:
        text = f"Not fitted: {scaling['refused']}"
    reasons = "".join(
        f"<li>N = {p['n']:g}: {_e(p['excluded'])}</li>" for p in scaling["points"] if p["excluded"] is not None
    )
    chart = line_chart(
        f"Throughput at capacity over {scaling['n']}",
        series,
        Axis(str(scaling["n"]), False, fmt_number),
        Axis("deliveries/s", False, fmt_number, zero_based=True),
    )
    return f"<h2>Scaling</h2><p>{_e(text)}</p>{f'<ul>{reasons}</ul>' if reasons else ''}{chart}"


def _plan_section(answer: Mapping[str, Any]) -> str:
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{_e(cell)}</td>"
            for cell in (
                row["part"],
                f"{row['what']}, {row['how']}",
                row["outcome"].replace("_", " "),
                "–" if row["last_pass"] is None else f"{row['last_pass']:,.0f} {row['unit']}",
                "–" if row["first_fail"] is None else f"{row['first_fail']:,.0f} {row['unit']}",
                ", ".join(row["first_fail_checks"]) or "–",
                "–" if row["server_cpu_percent"] is None else f"{row['server_cpu_percent']:.0f} %",
                "–" if row["generator_cpu_percent"] is None else f"{row['generator_cpu_percent']:.0f} %",
                busiest_text(row.get("busiest_process")),
            )
        )
        + "</tr>"
        for row in answer["parts"]
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "part",
            "load",
            "outcome",
            "holds",
            "fails at",
            "failed",
            "server CPU",
            "generator CPU",
            "busiest server process",
        )
    )
    return (
        f"<h2>Plan {_e(answer['plan'])}</h2><p><strong>{_e(answer['sentence'])}</strong></p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        "<p>CPU at the last passing trial of the load found, 100 % = one core; the servers and the generator share "
        "this machine's cores. A Python process uses at most one core: a busiest process near 100 % is the "
        "bottleneck whatever the sum.</p>"
    )


def render_capacity_report(doc: Mapping[str, Any]) -> str:
    """report.html of a capacity document (the parsed capacity.json)."""
    searches = doc["searches"]
    name = searches[0]["scenario"]["name"] if searches else "capacity"
    if doc.get("plan_answer"):
        name = f"plan {doc['plan_answer']['plan']}"
    notes = "".join(f"<li>{_e(n)}</li>" for n in doc["notes"])
    body = [
        f"<h1>{_e(name)}: capacity report</h1>",
        f'<p class="meta">written {_e(doc["created"])} · {len(searches)} search{"" if len(searches) == 1 else "es"}'
        f"{' · plan ' + _e(doc['plan_name']) if doc['plan_name'] else ''} · capacity.json schema "
        f"v{_e(doc['schema_version'])}</p>",
        f"<ul>{notes}</ul>" if notes else "",
        _plan_section(doc["plan_answer"]) if doc.get("plan_answer") else "",
        _scaling_section(doc["scaling"]) if doc.get("scaling") else "",
        *(_search_section(s) for s in searches),
        "<h2>Environment</h2>",
        fingerprint_table(doc.get("fingerprint", {})),
    ]
    return page(f"{name}: channels-harness capacity", body)
