"""report.html: one self-contained page rendered from a result document (result.json) and nothing else.

The page must open offline, years later, from an archived CI artefact, so it carries its CSS inline and draws every
chart as inline SVG generated here: no JavaScript, no CDN, no fonts to fetch. Because it is a pure function of the
JSON, a report can be re-rendered from any stored result.json and never shows a number that is not in the file.

Every piece of text from the document is escaped: scenario names, server names and reasons come from files and
command lines a report reader does not control.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from harness.report.charts import (
    LOG_FLOOR_MS,
    Axis,
    Series,
    decade_ticks,
    fmt_number,
    line_chart,
    palette_color,
    percentile_label,
    spectrum_points,
)
from harness.results.format import (
    cell_label,
    cell_warnings,
    format_ms,
    presence_text,
)

__all__ = ["PAGE_CSS", "fingerprint_table", "render_report", "table"]

PAGE_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;
color:#1d1d1f;background:#fff;font-size:14px;line-height:1.4}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 4px}
.meta{color:#555}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;white-space:nowrap}
.banner{background:#b00020;color:#fff;padding:16px 20px;margin:12px 0;border-radius:4px}
.banner .big{font-size:30px;font-weight:700;letter-spacing:.5px}
.verdict{display:inline-block;padding:6px 14px;border-radius:4px;font-weight:700;font-size:18px;margin:8px 0}
.pass{background:#e3f4e1;color:#1b5e20}.fail{background:#fde2e1;color:#b00020}.none{background:#eee;color:#444}
td.pass,td.fail{font-weight:700}
.warn{background:#fff4ce;border-left:4px solid #e0a800;padding:6px 10px;margin:6px 0}
.chart{margin:8px 0 16px}.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:2px 0 0 60px;font-size:12px}
.sw{display:inline-block;width:18px;height:0;border-top:3px solid;vertical-align:middle;margin-right:4px}
.sw.d{border-top-style:dashed}
svg text{font-family:inherit;font-size:11px;fill:#333}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
.empty{color:#777;font-style:italic}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# -- document helpers -------------------------------------------------------------------------------------------


def _labels(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    several = len({c.get("scenario") for c in cells}) > 1
    return [f"{c.get('scenario')}: {cell_label(c)}" if several else cell_label(c) for c in cells]


def _ms(value: Any) -> str:
    return format_ms(float(value)) if isinstance(value, int | float) else "–"


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _health_text(health: Mapping[str, Any]) -> str:
    cpu = [float(p["cpu_percent"]["max"]) for p in health.get("processes", [])]
    lag = health.get("send_lag", {})
    bits = []
    if cpu:
        bits.append(f"CPU max {max(cpu):.0f} %")
    if lag.get("count"):
        bits.append(f"send lag p99 {format_ms(float(lag['p99']))} ms")
    state = "GENERATOR-BOUND" if health.get("generator_bound") else "ok"
    return state + (f" ({', '.join(bits)})" if bits else "")


def _warnings(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> list[str]:
    return [w for cell, label in zip(cells, labels, strict=True) for w in cell_warnings(cell, label)]


# -- sections ---------------------------------------------------------------------------------------------------


def _banner(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    bound = [
        (label, cell["generator_health"].get("generator_bound_reasons", []))
        for cell, label in zip(cells, labels, strict=True)
        if cell.get("generator_health", {}).get("generator_bound")
    ]
    if not bound:
        return ""
    items = "".join(
        f"<li>{_e(label)}: {_e('; '.join(reasons) or 'no reason recorded')}</li>" for label, reasons in bound
    )
    return (
        '<div class="banner" id="generator-bound"><div class="big">GENERATOR-BOUND RUN</div>'
        "<p>The load generator could not keep its schedule in these cells, so their numbers measure the generator, "
        "not the server. Use more generator processes or fewer users per process, or run the generator on another "
        f"machine, then measure again.</p><ul>{items}</ul></div>"
    )


def _overall(cells: Sequence[Mapping[str, Any]]) -> str:
    verdicts = [v for c in cells for v in c.get("slo_verdicts", [])]
    if not verdicts:
        return '<div class="verdict none">No SLOs configured</div>'
    failed = sum(1 for v in verdicts if not v["pass"])
    if failed:
        return f'<div class="verdict fail">FAIL: {failed} of {len(verdicts)} SLO checks breached</div>'
    return f'<div class="verdict pass">PASS: all {len(verdicts)} SLO checks met</div>'


def _verdict_value(value: Any, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "us":
        return f"{format_ms(float(value))} ms"
    if unit == "ratio":
        return f"{float(value) * 100:.3g} %"
    return f"{fmt_number(float(value))} {_e(unit)}"


def _verdicts_table(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    rows = []
    for cell, label in zip(cells, labels, strict=True):
        for v in cell.get("slo_verdicts", []):
            unit = str(v.get("unit", ""))
            bound = "≥" if v.get("bound") == "min" else "≤"
            cls = "pass" if v["pass"] else "fail"
            rows.append(
                f"<tr><td>{_e(label)}</td><td>{_e(v['metric'])}</td><td>{_e(v['statistic'])}</td>"
                f'<td class="n">{bound} {_verdict_value(v["limit"], unit)}</td>'
                f'<td class="n">{_verdict_value(v["observed"], unit)}</td>'
                f'<td class="{cls}">{"pass" if v["pass"] else "FAIL"}</td><td>{_e(v.get("sentence", ""))}</td></tr>'
            )
    if not rows:
        return '<p class="empty">The scenario sets no SLOs.</p>'
    head = (
        "<tr><th>cell</th><th>metric</th><th>statistic</th><th>limit</th><th>observed</th><th>result</th>"
        "<th>sentence</th></tr>"
    )
    return f'<table id="verdicts">{head}{"".join(rows)}</table>'


def _summary_table(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    head = (
        "<tr><th>cell</th><th>metric</th><th>count</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th>"
        "<th>p99.9 ms</th><th>max ms</th><th>lost</th><th>dup</th><th>reordered</th><th>generator</th></tr>"
    )
    rows = []
    for cell, label in zip(cells, labels, strict=True):
        metrics = sorted(cell.get("metrics", {}).items())
        delivery = cell.get("delivery", {})
        span = max(len(metrics), 1)
        shared_left = f'<td rowspan="{span}">{_e(label)}</td>'
        shared_right = (
            f'<td class="n" rowspan="{span}">{_num(delivery.get("lost", "–"))}</td>'
            f'<td class="n" rowspan="{span}">{_num(delivery.get("duplicated", "–"))}</td>'
            f'<td class="n" rowspan="{span}">{_num(delivery.get("reordered", "–"))}</td>'
            f'<td rowspan="{span}">{_e(_health_text(cell.get("generator_health", {})))}</td>'
        )
        if not metrics:
            rows.append(f'<tr>{shared_left}<td colspan="7" class="empty">no latency metrics</td>{shared_right}</tr>')
            continue
        for i, (name, m) in enumerate(metrics):
            flag = " *" if m.get("out_of_range") else ""
            values = "".join(f'<td class="n">{_ms(m.get(k))}</td>' for k in ("p50", "p90", "p99", "p99_9"))
            row = (
                f'<td>{_e(name)}</td><td class="n">{_num(m.get("count"))}</td>{values}'
                f'<td class="n">{_ms(m.get("max"))}{flag}</td>'
            )
            rows.append(f"<tr>{shared_left if i == 0 else ''}{row}{shared_right if i == 0 else ''}</tr>")
    note = (
        '<p class="meta">Latencies in milliseconds from HDR histograms (3 significant digits). '
        "* = samples above the histogram range exist; see the warnings.</p>"
    )
    return f'<table id="summary">{head}{"".join(rows)}</table>{note}'


def _spectrum_charts(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    names = sorted({name for c in cells for name in c.get("metrics", {})})
    x = Axis("percentile (log scale of 1/(1−p))", log=True, fmt=percentile_label, ticks=decade_ticks)
    y = Axis("latency ms (log)", log=True, fmt=fmt_number)
    charts = []
    for name in names:
        series = []
        for i, (cell, label) in enumerate(zip(cells, labels, strict=True)):
            metric = cell.get("metrics", {}).get(name)
            if metric is None:
                continue
            color, dashed = palette_color(i)
            series.append(Series(label, color, spectrum_points(metric), dashed))
        charts.append(line_chart(f"{name}: percentile spectrum, all cells", series, x, y))
    return "".join(charts) or '<p class="empty">No latency metrics in the result.</p>'


# Per-interval values of a timeseries point, each given the point and the interval length in seconds.
_PointValue = Callable[[Mapping[str, Any], float], float | None]


def _response_p99_ms(point: Mapping[str, Any], _interval: float) -> float | None:
    value = point.get("response_time_p99_us")
    return None if value is None else float(value) / 1000.0


def _service_p99_ms(point: Mapping[str, Any], _interval: float) -> float | None:
    # A version 1 result has one p99_us, measured from the actual send whatever its label said.
    value = point.get("service_time_p99_us", point.get("p99_us"))
    return None if value is None else float(value) / 1000.0


def _received_per_s(point: Mapping[str, Any], interval: float) -> float | None:
    return float(point["received"]) / interval


def _connections(point: Mapping[str, Any], _interval: float) -> float | None:
    return float(point["connections"]) if "connections" in point else None


def _errors_per_s(point: Mapping[str, Any], interval: float) -> float | None:
    return float(point["errors"]) / interval


def _with_breaks(
    points: Sequence[Mapping[str, Any]], value: _PointValue, interval: float
) -> tuple[tuple[float, float | None], ...]:
    """The chart points of a series, with a break where intervals are missing (between the generator runs of a
    fan-out cell no generator ran, so there is nothing to draw)."""
    out: list[tuple[float, float | None]] = []
    previous: float | None = None
    for p in points:
        t = float(p["t_s"])
        if previous is not None and t - previous > 1.5 * interval:
            out.append((previous + interval, None))
        out.append((t, value(p, interval)))
        previous = t
    return tuple(out)


def _over_time_charts(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    t_axis = Axis("seconds since the generator's first recorded second", log=False, fmt=fmt_number, zero_based=True)
    p99_axis = Axis("p99 ms (log)", log=True, fmt=fmt_number)

    def count_axis(label: str) -> Axis:
        return Axis(label, log=False, fmt=fmt_number, zero_based=True)

    charts: list[tuple[str, _PointValue, Axis]] = [
        ("p99 response time per second (from the intended send: corrected for coordinated omission)",
         _response_p99_ms, p99_axis),
        ("p99 service time per second (from the actual send)", _service_p99_ms, p99_axis),
        ("throughput: messages received per second", _received_per_s, count_axis("messages/s")),
        ("open connections held by the generator", _connections, count_axis("connections")),
        ("errors per second (connect failures and unexpected closes)", _errors_per_s, count_axis("errors/s")),
    ]  # fmt: skip
    timed = [
        (i, cell, label) for i, (cell, label) in enumerate(zip(cells, labels, strict=True)) if cell.get("timeseries")
    ]
    if not timed:
        return '<p class="empty">The result has no per-interval samples.</p>'
    parts = []
    for title, value, y_axis in charts:
        series = []
        for i, cell, label in timed:
            ts = cell["timeseries"]
            interval = float(ts["interval_s"])
            color, dashed = palette_color(i)
            series.append(Series(label, color, _with_breaks(ts["points"], value, interval), dashed))
        if value is _errors_per_s and not any(y for s in series for _, y in s.points):
            continue  # no errors in any interval; the delivery and failures table says "none"
        parts.append(line_chart(title, series, t_axis, y_axis))
    return "".join(parts)


def _fanout_chart(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    series = []
    for i, (cell, label) in enumerate(zip(cells, labels, strict=True)):
        groups = sorted(cell.get("fanout_by_group_size", []), key=lambda g: g["group_size"])
        if not groups:
            continue
        color, _ = palette_color(i)
        for stat, dashed in (("p99", False), ("p50", True)):
            pts = tuple(
                (
                    float(g["group_size"]),
                    max(g["metric"][stat] / 1000.0, LOG_FLOOR_MS) if g["metric"]["count"] else None,
                )
                for g in groups
            )
            series.append(Series(f"{label} {stat}", color, pts, dashed))
    if not series:
        return ""
    chart = line_chart(
        "fan-out latency by group size (solid p99, dashed p50)",
        series,
        Axis("group size (members, log)", log=True, fmt=fmt_number, ticks=decade_ticks),
        Axis("latency ms (log)", log=True, fmt=fmt_number),
    )
    rows = "".join(
        f'<tr><td>{_e(label)}</td><td class="n">{g["group_size"]:,}</td><td class="n">{g["groups"]:,}</td>'
        f'<td class="n">{_num(g["metric"]["count"])}</td><td class="n">{_ms(g["metric"]["p50"])}</td>'
        f'<td class="n">{_ms(g["metric"]["p99"])}</td><td class="n">{_ms(g["metric"]["max"])}</td></tr>'
        for cell, label in zip(cells, labels, strict=True)
        for g in sorted(cell.get("fanout_by_group_size", []), key=lambda g: g["group_size"])
    )
    table = (
        '<table id="fanout"><tr><th>cell</th><th>group size</th><th>groups</th><th>deliveries</th><th>p50 ms</th>'
        f"<th>p99 ms</th><th>max ms</th></tr>{rows}</table>"
    )
    return "<h2>Fan-out by group size</h2>" + chart + table


def _join_storm_table(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    rows = []
    for cell, label in zip(cells, labels, strict=True):
        for s in sorted(cell.get("join_storm_by_group_size", []), key=lambda s: s["group_size"]):
            duration = "–" if s["duration_s"] is None else f"{s['duration_s']:.1f}"
            settled = '<td class="pass">yes</td>' if s["settled"] else '<td class="fail">NO</td>'
            rows.append(
                f'<tr><td>{_e(label)}</td><td class="n">{s["group_size"]:,}</td><td class="n">{s["groups"]:,}</td>'
                f'<td class="n">{s["connected"]:,} of {s["members"]:,}</td>'
                f'<td class="n">{_ms(s["connect"]["p50"])}</td><td class="n">{_ms(s["connect"]["p99"])}</td>'
                f'<td class="n">{_e(presence_text(s))}</td><td class="n">{s["presence_after_release"]:,}</td>'
                f'<td class="n">{duration}</td>{settled}</tr>'
            )
    if not rows:
        return ""
    headers = (
        "cell",
        "group size",
        "groups",
        "members connected",
        "connect p50 ms",
        "connect p99 ms",
        "join presence frames received (of the range when every member joins)",
        "of them in the fan-out window",
        "storm s (first connect to last presence)",
        "settled before the time-out",
    )
    return (
        "<h2>Join storm by group size</h2><p>Every join announces itself to the whole room, so a room of N members "
        "whose every member joined delivers between N(N+1)/2 presence frames (joins one after the other) and N² (joins "
        "all overlapping); fewer were lost. ≤ marks a room where a member failed to connect or was closed on: then "
        "only the maximum holds. The members of a group size sent only once their storm was over, so the fan-out "
        "figures above hold no join traffic; this is the storm itself.</p>" + table("join-storm", headers, rows)
    )


def _resource_charts(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    cpu, rss = [], []
    k = 0
    for cell, label in zip(cells, labels, strict=True):
        for proc in cell.get("server_resources", {}).get("processes", []):
            samples = proc.get("samples", [])
            if not samples:
                continue
            color, dashed = palette_color(k)
            k += 1
            name = f"{label}: {proc['name']} (pid {proc['pid']})"
            cpu.append(Series(name, color, tuple((float(s["t_s"]), float(s["cpu_percent"])) for s in samples), dashed))
            rss.append(Series(name, color, tuple((float(s["t_s"]), s["rss_bytes"] / 1e6) for s in samples), dashed))
    if not cpu:
        return '<p class="empty">No server resource samples in the result.</p>'
    t_axis = Axis("seconds since the start of the measurement window", log=False, fmt=fmt_number, zero_based=True)
    return line_chart(
        "server CPU (percent of one core)", cpu, t_axis, Axis("CPU %", log=False, fmt=fmt_number, zero_based=True)
    ) + line_chart(
        # Not zero-based: a leak shows as a slope, which a scale from 0 would flatten.
        "server resident memory",
        rss,
        t_axis,
        Axis("RSS MB", log=False, fmt=fmt_number),
    )


def _failures_table(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    rows = []
    for cell, label in zip(cells, labels, strict=True):
        failures = ", ".join(f"{k} {v:,}" for k, v in sorted(cell.get("connect_failures", {}).items()) if v) or "none"
        closes = ", ".join(f"{k}: {v:,}" for k, v in sorted(cell.get("unexpected_closes", {}).items()) if v) or "none"
        foreign = ", ".join(f"{k} {v:,}" for k, v in sorted(cell.get("foreign_messages", {}).items()) if v) or "none"
        d = cell.get("delivery", {})
        rows.append(
            f'<tr><td>{_e(label)}</td><td class="n">{_num(d.get("expected", "–"))}</td>'
            f'<td class="n">{_num(d.get("received", "–"))}</td><td>{_e(failures)}</td><td>{_e(closes)}</td>'
            f"<td>{_e(foreign)}</td></tr>"
        )
    headers = (
        "cell",
        "expected",
        "received",
        "connect failures",
        "unexpected closes (code: count)",
        "foreign messages",
    )
    return table("delivery", headers, rows)


def table(table_id: str, headers: Sequence[str], rows: Sequence[str]) -> str:
    """A table with a header row; ``rows`` are rendered ``<tr>`` elements, ``headers`` plain text (escaped here)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table id="{_e(table_id)}"><tr>{head}</tr>{"".join(rows)}</table>'


def page(title: str, body: Sequence[str]) -> str:
    """A whole self-contained page (inline CSS, no JavaScript) of the non-empty ``body`` parts, already HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{PAGE_CSS}</style></head><body>"
        + "\n".join(part for part in body if part)
        + "</body></html>\n"
    )


def fingerprint_table(fp: Mapping[str, Any]) -> str:
    rows = []
    for key in sorted(fp):
        value = fp[key]
        if isinstance(value, Mapping):
            text = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
        elif isinstance(value, list):
            text = " ".join(str(v) for v in value)
        else:
            text = "–" if value is None else str(value)
        rows.append(f"<tr><th>{_e(key)}</th><td>{_e(text)}</td></tr>")
    return f'<table id="fingerprint">{"".join(rows)}</table>'


def _title(result: Mapping[str, Any], cells: Sequence[Mapping[str, Any]]) -> str:
    names: Iterable[str] = dict.fromkeys(str(c.get("scenario", "?")) for c in cells)
    joined = ", ".join(names)
    if not joined:
        scenario = result.get("config", {}).get("scenario", {})
        joined = str(scenario.get("name", "run")) if isinstance(scenario, Mapping) else "run"
    return joined


def render_report(result: Mapping[str, Any]) -> str:
    """Render report.html from a result document (the parsed result.json).

    The page holds: overall verdict, a large banner when any cell is generator-bound, warnings (out-of-range samples,
    clock mix-ups, approximate accounting, dropped connections), SLO verdicts, a summary table across the matrix,
    the percentile spectrum per metric with all cells overlaid, latency and throughput over time, fan-out latency
    by group size and the join storm before it, server CPU and memory over time, delivery and failure counts, the
    fingerprint and the config.
    """
    cells: list[Mapping[str, Any]] = list(result.get("cells", []))
    labels = _labels(cells)
    title = _title(result, cells)
    fp = result.get("fingerprint", {})
    commit = fp.get("git_commit") or "no git commit"
    dirty = " (uncommitted changes)" if fp.get("git_dirty") else ""
    warnings = _warnings(cells, labels)
    warn_html = "".join(f'<div class="warn">{_e(w)}</div>' for w in warnings) or '<p class="empty">None.</p>'
    config = json.dumps(result.get("config", {}), indent=2, sort_keys=True, ensure_ascii=False)
    scenario = result.get("config", {}).get("scenario", {})
    overrides = scenario.get("overrides") if isinstance(scenario, Mapping) else None
    # A figure read without knowing the file was changed on the command line would be misread as the file's.
    changed = (
        f'<p class="meta">scenario file changed on the command line: {_e(", ".join(map(str, overrides)))}</p>'
        if overrides
        else ""
    )
    body = [
        f"<h1>{_e(title)}: load test report</h1>",
        f'<p class="meta">run {_e(result.get("run_id", "?"))} · written {_e(result.get("created", "?"))} · '
        f"{_e(fp.get('hostname', '?'))} · {_e(fp.get('cpu_model', '?'))} · {_e(commit)}{_e(dirty)} · "
        f"{len(cells)} cell{'' if len(cells) == 1 else 's'} · "
        f"result.json schema v{_e(result.get('schema_version'))}</p>",
        changed,
        _banner(cells, labels),
        _overall(cells),
        "<h2>Warnings</h2>",
        warn_html,
        "<h2>SLO verdicts</h2>",
        _verdicts_table(cells, labels),
        "<h2>Summary across the matrix</h2>",
        _summary_table(cells, labels),
        "<h2>Percentile spectrum</h2>",
        _spectrum_charts(cells, labels),
        "<h2>Over time</h2>",
        _over_time_charts(cells, labels),
        _fanout_chart(cells, labels),
        _join_storm_table(cells, labels),
        "<h2>Server resources over time</h2>",
        _resource_charts(cells, labels),
        "<h2>Delivery and failures</h2>",
        _failures_table(cells, labels),
        "<h2>Environment</h2>",
        fingerprint_table(fp),
        f"<details><summary>Configuration</summary><pre>{_e(config)}</pre></details>",
    ]
    return page(f"{title}: channels-harness report", body)
