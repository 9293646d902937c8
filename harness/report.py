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
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.latency import HistogramDecodeError, LatencyRecorder
from harness.slo import cell_label, format_ms

__all__ = ["render_report"]

# Tableau 10: distinguishable, and readable when printed in grey.
_PALETTE: Final = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

# Spectrum points per decade of 1/(1-p): smooth enough to show knees, small enough to keep the file light.
_SPECTRUM_STEPS_PER_DECADE: Final = 20
# Beyond one in a million the plot would extrapolate: a run rarely has that many samples per cell.
_SPECTRUM_MAX_DECADES: Final = 6
# Log axes need a positive floor; 1 µs is the histogram's lowest trackable value.
_LOG_FLOOR_MS: Final = 0.001

_CSS: Final = """
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


# -- charts ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Series:
    label: str
    color: str
    # A None y breaks the line: an interval without samples must not be drawn as a straight interpolation.
    points: tuple[tuple[float, float | None], ...]
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class _Axis:
    label: str
    log: bool
    fmt: Callable[[float], str]
    ticks: Callable[[float, float], list[float]] | None = None
    zero_based: bool = False


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def _linear_range(lo: float, hi: float, zero_based: bool) -> tuple[float, float, list[float]]:
    if zero_based:
        lo = min(0.0, lo)
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    step = _nice_step(hi - lo)
    lo = math.floor(lo / step) * step
    hi = math.ceil(hi / step) * step
    count = round((hi - lo) / step)
    return lo, hi, [lo + i * step for i in range(count + 1)]


def _log_range(lo: float, hi: float) -> tuple[float, float, list[float]]:
    lo_exp = math.floor(math.log10(lo))
    hi_exp = math.ceil(math.log10(hi))
    if hi_exp == lo_exp:
        hi_exp += 1
    decades = hi_exp - lo_exp
    stride = max(1, math.ceil(decades / 8))
    ticks = [10.0**e for e in range(lo_exp, hi_exp + 1, stride)]
    if decades <= 2:
        # Few decades: add 2 and 5 so the reader can still place a value.
        ticks = sorted({t * m for t in ticks for m in (1, 2, 5) if t * m <= 10.0**hi_exp})
    return 10.0**lo_exp, 10.0**hi_exp, ticks


def _fmt_number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.4g}"
    return f"{value:.3g}"


def _chart(title: str, series: Sequence[_Series], x: _Axis, y: _Axis, *, width: int = 900, height: int = 320) -> str:
    """Render a line chart as inline SVG plus an HTML legend; an explanatory note when there is nothing to plot."""
    xs = [px for s in series for px, py in s.points if py is not None and (px > 0 or not x.log)]
    ys = [py for s in series for px, py in s.points if py is not None and (py > 0 or not y.log)]
    head = f'<div class="chart"><h3>{_e(title)}</h3>'
    if not xs or not ys:
        return head + '<p class="empty">No data for this chart in the result.</p></div>'
    left, right, top, bottom = 64, 40, 10, 44
    pw, ph = width - left - right, height - top - bottom
    x_lo, x_hi, x_ticks = _log_range(min(xs), max(xs)) if x.log else _linear_range(min(xs), max(xs), x.zero_based)
    y_lo, y_hi, y_ticks = _log_range(min(ys), max(ys)) if y.log else _linear_range(min(ys), max(ys), y.zero_based)
    if x.ticks is not None:
        x_ticks = [t for t in x.ticks(x_lo, x_hi) if x_lo <= t <= x_hi]

    def sx(v: float) -> float:
        frac = (
            (math.log10(v) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo))
            if x.log
            else ((v - x_lo) / (x_hi - x_lo))
        )
        return left + frac * pw

    def sy(v: float) -> float:
        frac = (
            (math.log10(v) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))
            if y.log
            else ((v - y_lo) / (y_hi - y_lo))
        )
        return top + ph - frac * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>',
    ]
    for t in y_ticks:
        yy = sy(t)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e6e6e6"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{_e(y.fmt(t))}</text>')
    for t in x_ticks:
        xx = sx(t)
        parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" y2="{top + ph}" stroke="#e6e6e6"/>')
        parts.append(f'<text x="{xx:.1f}" y="{top + ph + 16}" text-anchor="middle">{_e(x.fmt(t))}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle">{_e(x.label)}</text>')
    parts.append(
        f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" transform="rotate(-90 14 {top + ph / 2:.1f})">'
        f"{_e(y.label)}</text>"
    )
    for s in series:
        path: list[str] = []
        pen_down = False
        for px, py in s.points:
            if py is None or (x.log and px <= 0) or (y.log and py <= 0):
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{sx(px):.1f},{sy(py):.1f}")
            pen_down = True
        if not path:
            continue
        dash = ' stroke-dasharray="6,4"' if s.dashed else ""
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="{s.color}" stroke-width="1.8"{dash}>'
            f"<title>{_e(s.label)}</title></path>"
        )
        if len(path) == 1:
            # A single point draws no line; mark it so it is visible.
            px, py = next((p, q) for p, q in s.points if q is not None)
            parts.append(f'<circle cx="{sx(px):.1f}" cy="{sy(py):.1f}" r="3" fill="{s.color}"/>')
    parts.append("</svg>")
    legend = "".join(
        f'<span><span class="sw{" d" if s.dashed else ""}" style="border-color:{s.color}"></span>{_e(s.label)}</span>'
        for s in series
    )
    return head + "".join(parts) + f'<div class="legend">{legend}</div></div>'


def _color(i: int) -> tuple[str, bool]:
    return _PALETTE[i % len(_PALETTE)], i >= len(_PALETTE)


def _percentile_label(x: float) -> str:
    p = 100.0 * (1.0 - 1.0 / x)
    text = f"{p:.6f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _decade_ticks(lo: float, hi: float) -> list[float]:
    out: list[float] = []
    t = 1.0
    while t <= hi:
        if t >= lo:
            out.append(t)
        t *= 10
    return out


def _spectrum_points(metric: Mapping[str, Any]) -> tuple[tuple[float, float | None], ...]:
    try:
        recorder = LatencyRecorder.decode(metric["histogram"])
    except (HistogramDecodeError, KeyError):
        return ()
    n = recorder.count
    if not n:
        return ()
    points: list[tuple[float, float | None]] = []
    limit = min(float(n), 10.0**_SPECTRUM_MAX_DECADES)
    i = 0
    while (x := 10 ** (i / _SPECTRUM_STEPS_PER_DECADE)) <= limit:
        value_ms = recorder.value_at_percentile(100.0 * (1.0 - 1.0 / x)) / 1000.0
        points.append((x, max(value_ms, _LOG_FLOOR_MS)))
        i += 1
    points.append((max(limit, points[-1][0]), max(recorder.value_at_percentile(100.0) / 1000.0, _LOG_FLOOR_MS)))
    return tuple(points)


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
    out: list[str] = []
    for cell, label in zip(cells, labels, strict=True):
        metrics: list[tuple[str, Mapping[str, Any]]] = sorted(cell.get("metrics", {}).items())
        metrics += [
            (f"fanout (group size {g['group_size']})", g["metric"]) for g in cell.get("fanout_by_group_size", [])
        ]
        for name, m in metrics:
            if m.get("out_of_range"):
                out.append(
                    f"{label}, {name}: {m['out_of_range']:,} samples were above the histogram range "
                    f"({format_ms(float(m['highest_trackable_us']))} ms; "
                    f"largest {format_ms(float(m['max_out_of_range']))} ms) and are not in the percentiles, "
                    "so high percentiles are underestimates. "
                    "Raise highest_trackable_us, or find what stalled for that long."
                )
            if m.get("negative"):
                out.append(
                    f"{label}, {name}: {m['negative']:,} negative durations were recorded as 0: the two timestamps "
                    "came from clocks that cannot be compared. Keep senders and receivers on one host."
                )
        delivery = cell.get("delivery", {})
        if delivery and not delivery.get("exact", True):
            out.append(
                f"{label}: delivery counts are approximate: a stream had too many gaps to track exactly, so lost and "
                "duplicated are bounds. Look for the cause of the gaps first."
            )
        closes = cell.get("unexpected_closes", {})
        if closes.get("1006"):
            out.append(
                f"{label}: {closes['1006']:,} connections dropped without a close frame (1006); "
                "check the server log for crashes or timeouts."
            )
        pressure = cell.get("layer_pressure", {})
        if pressure.get("group_send_over_capacity") or pressure.get("channel_full"):
            out.append(
                f"{label}: the channel layer was at capacity: group_send skipped "
                f"{pressure['group_send_over_capacity']:,} deliveries and {pressure['channel_full']:,} sends raised "
                "ChannelFull (from the server logs). Consumers fell behind; raise capacity or lower the load."
            )
        elif pressure and not pressure.get("observable", True):
            out.append(
                f"{label}: this layer drops messages at capacity without logging them, so layer back-pressure could "
                "not be observed; rely on the delivery counts."
            )
        failures = {k: v for k, v in cell.get("connect_failures", {}).items() if v}
        if failures:
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(failures.items()))
            out.append(f"{label}: connection attempts failed ({kinds}); check the server log and the connect rate.")
    return out


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
    return f"{_fmt_number(float(value))} {_e(unit)}"


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
    x = _Axis("percentile (log scale of 1/(1−p))", log=True, fmt=_percentile_label, ticks=_decade_ticks)
    y = _Axis("latency ms (log)", log=True, fmt=_fmt_number)
    charts = []
    for name in names:
        series = []
        for i, (cell, label) in enumerate(zip(cells, labels, strict=True)):
            metric = cell.get("metrics", {}).get(name)
            if metric is None:
                continue
            color, dashed = _color(i)
            series.append(_Series(label, color, _spectrum_points(metric), dashed))
        charts.append(_chart(f"{name}: percentile spectrum, all cells", series, x, y))
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


def _over_time_charts(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    t_axis = _Axis("seconds since the generator's first recorded second", log=False, fmt=_fmt_number, zero_based=True)
    p99_axis = _Axis("p99 ms (log)", log=True, fmt=_fmt_number)

    def count_axis(label: str) -> _Axis:
        return _Axis(label, log=False, fmt=_fmt_number, zero_based=True)

    charts: list[tuple[str, _PointValue, _Axis]] = [
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
            color, dashed = _color(i)
            points = tuple((float(p["t_s"]), value(p, interval)) for p in ts["points"])
            series.append(_Series(label, color, points, dashed))
        if value is _errors_per_s and not any(y for s in series for _, y in s.points):
            continue  # no errors in any interval; the delivery and failures table says "none"
        parts.append(_chart(title, series, t_axis, y_axis))
    return "".join(parts)


def _fanout_chart(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    series = []
    for i, (cell, label) in enumerate(zip(cells, labels, strict=True)):
        groups = sorted(cell.get("fanout_by_group_size", []), key=lambda g: g["group_size"])
        if not groups:
            continue
        color, _ = _color(i)
        for stat, dashed in (("p99", False), ("p50", True)):
            pts = tuple(
                (
                    float(g["group_size"]),
                    max(g["metric"][stat] / 1000.0, _LOG_FLOOR_MS) if g["metric"]["count"] else None,
                )
                for g in groups
            )
            series.append(_Series(f"{label} {stat}", color, pts, dashed))
    if not series:
        return ""
    chart = _chart(
        "fan-out latency by group size (solid p99, dashed p50)",
        series,
        _Axis("group size (members, log)", log=True, fmt=_fmt_number, ticks=_decade_ticks),
        _Axis("latency ms (log)", log=True, fmt=_fmt_number),
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


def _resource_charts(cells: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    cpu, rss = [], []
    k = 0
    for cell, label in zip(cells, labels, strict=True):
        for proc in cell.get("server_resources", {}).get("processes", []):
            samples = proc.get("samples", [])
            if not samples:
                continue
            color, dashed = _color(k)
            k += 1
            name = f"{label}: {proc['name']} (pid {proc['pid']})"
            cpu.append(_Series(name, color, tuple((float(s["t_s"]), float(s["cpu_percent"])) for s in samples), dashed))
            rss.append(_Series(name, color, tuple((float(s["t_s"]), s["rss_bytes"] / 1e6) for s in samples), dashed))
    if not cpu:
        return '<p class="empty">No server resource samples in the result.</p>'
    t_axis = _Axis("seconds since the start of the measurement window", log=False, fmt=_fmt_number, zero_based=True)
    return _chart(
        "server CPU (percent of one core)", cpu, t_axis, _Axis("CPU %", log=False, fmt=_fmt_number, zero_based=True)
    ) + _chart(
        # Not zero-based: a leak shows as a slope, which a scale from 0 would flatten.
        "server resident memory",
        rss,
        t_axis,
        _Axis("RSS MB", log=False, fmt=_fmt_number),
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
    head = (
        "<tr><th>cell</th><th>expected</th><th>received</th><th>connect failures</th>"
        "<th>unexpected closes (code: count)</th><th>foreign messages</th></tr>"
    )
    return f'<table id="delivery">{head}{"".join(rows)}</table>'


def _fingerprint(fp: Mapping[str, Any]) -> str:
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
    by group size, server CPU and memory over time, delivery and failure counts, the fingerprint and the config.
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
    body = [
        f"<h1>{_e(title)}: load test report</h1>",
        f'<p class="meta">run {_e(result.get("run_id", "?"))} · written {_e(result.get("created", "?"))} · '
        f"{_e(fp.get('hostname', '?'))} · {_e(fp.get('cpu_model', '?'))} · {_e(commit)}{_e(dirty)} · "
        f"{len(cells)} cell{'' if len(cells) == 1 else 's'} · "
        f"result.json schema v{_e(result.get('schema_version'))}</p>",
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
        "<h2>Server resources over time</h2>",
        _resource_charts(cells, labels),
        "<h2>Delivery and failures</h2>",
        _failures_table(cells, labels),
        "<h2>Environment</h2>",
        _fingerprint(fp),
        f"<details><summary>Configuration</summary><pre>{_e(config)}</pre></details>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}: channels-harness report</title><style>{_CSS}</style></head><body>"
        + "\n".join(part for part in body if part)
        + "</body></html>\n"
    )
