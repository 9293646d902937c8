"""Line charts as inline SVG, drawn here so that report.html needs no JavaScript, CDN or font to open, years later.

Axes may be linear or log; a None y breaks a line instead of interpolating across an interval without samples.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.measure.latency import HistogramDecodeError, LatencyRecorder
from harness.report.histograms import metric_recorder

__all__ = [
    "LOG_FLOOR_MS",
    "Axis",
    "Series",
    "decade_ticks",
    "fmt_number",
    "line_chart",
    "palette_color",
    "percentile_label",
    "recorder_spectrum",
    "spectrum_points",
]

# Tableau 10: distinguishable, and readable when printed in grey.
PALETTE: Final = (
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
LOG_FLOOR_MS: Final = 0.001


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# -- charts ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    color: str
    # A None y breaks the line: an interval without samples must not be drawn as a straight interpolation.
    points: tuple[tuple[float, float | None], ...]
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Axis:
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


def fmt_number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.4g}"
    return f"{value:.3g}"


def line_chart(title: str, series: Sequence[Series], x: Axis, y: Axis, *, width: int = 900, height: int = 320) -> str:
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


def palette_color(i: int) -> tuple[str, bool]:
    return PALETTE[i % len(PALETTE)], i >= len(PALETTE)


def percentile_label(x: float) -> str:
    p = 100.0 * (1.0 - 1.0 / x)
    text = f"{p:.6f}".rstrip("0").rstrip(".")
    return f"{text}%"


def decade_ticks(lo: float, hi: float) -> list[float]:
    out: list[float] = []
    t = 1.0
    while t <= hi:
        if t >= lo:
            out.append(t)
        t *= 10
    return out


def spectrum_points(metric: Mapping[str, Any]) -> tuple[tuple[float, float | None], ...]:
    """The percentile spectrum of a ``$defs/metric`` object; empty when it holds no decodable histogram."""
    try:
        recorder = metric_recorder(metric)
    except (HistogramDecodeError, KeyError):
        return ()
    return recorder_spectrum(recorder)


def recorder_spectrum(recorder: LatencyRecorder) -> tuple[tuple[float, float | None], ...]:
    """Points (1/(1−p), latency ms) of a recorder's percentile spectrum; empty when it recorded nothing."""
    n = recorder.count
    if not n:
        return ()
    points: list[tuple[float, float | None]] = []
    limit = min(float(n), 10.0**_SPECTRUM_MAX_DECADES)
    i = 0
    while (x := 10 ** (i / _SPECTRUM_STEPS_PER_DECADE)) <= limit:
        value_ms = recorder.value_at_percentile(100.0 * (1.0 - 1.0 / x)) / 1000.0
        points.append((x, max(value_ms, LOG_FLOOR_MS)))
        i += 1
    points.append((max(limit, points[-1][0]), max(recorder.value_at_percentile(100.0) / 1000.0, LOG_FLOOR_MS)))
    return tuple(points)
