"""A gate's report.html, rendered from its ``gate.json`` alone, like a run's report (self-contained, no JavaScript).

What a reviewer needs to trust or doubt a verdict: the estimate and interval per metric, every pair's ratio in the
order the pairs ran (a drift or a single wild pair shows at once), both arms' percentile spectra over the judged
trials, and every trial with what it measured and why it was rejected.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from harness.measure.latency import HistogramDecodeError, LatencyRecorder
from harness.report.charts import (
    Axis,
    Series,
    decade_ticks,
    fmt_number,
    line_chart,
    palette_color,
    percentile_label,
    recorder_spectrum,
)
from harness.report.html import fingerprint_table, page, table

__all__ = ["pair_ratios", "render_gate_report"]

_METRIC_TITLES: Final = {"cpu_per_message": "server CPU per delivered message"}
_VERDICT_CLASS: Final = {"no regression": "pass", "regression": "fail"}
_ARMS: Final = ("baseline", "candidate")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _title(doc: Mapping[str, Any], metric: str) -> str:
    return _METRIC_TITLES.get(metric) or f"{doc['plan']['metric']} {metric}"


def _pct(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return "unbounded"
    return f"{ratio - 1:+.1%}"


def pair_ratios(doc: Mapping[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """Per metric, (pair, candidate / baseline) for every pair whose two trials were both used, in pair order."""
    by_pair: dict[int, dict[str, Mapping[str, Any]]] = {}
    for trial in doc["trials"]:
        if trial["pair"] > 0 and not trial["rejected"]:
            by_pair.setdefault(int(trial["pair"]), {})[trial["arm"]] = trial
    ratios: dict[str, list[tuple[int, float]]] = {}
    for pair in sorted(by_pair):
        arms = by_pair[pair]
        if set(arms) != set(_ARMS):
            continue
        base, cand = arms["baseline"]["figures"], arms["candidate"]["figures"]
        for metric in sorted(set(base) & set(cand)):
            if base[metric] > 0 and cand[metric] > 0:
                ratios.setdefault(metric, []).append((pair, cand[metric] / base[metric]))
    return ratios


def _judgements_table(doc: Mapping[str, Any]) -> str:
    if not doc["stages"]:
        return '<p class="empty">No stage was judged.</p>'
    rows = []
    for number, stage in enumerate(doc["stages"], 1):
        for j in stage["judgements"]:
            cls = _VERDICT_CLASS.get(j["verdict"], "none")
            mde = "n/a" if j["mde"] is None else f"{j['mde']:.0%}"
            role = "" if j["hard"] else " (advisory)"
            rows.append(
                f"<tr><td>{number}</td><td>{_e(_title(doc, j['metric']))}</td><td class='n'>{j['pairs']}</td>"
                f"<td class='n'>{_pct(j['ratio'])}</td><td class='n'>{_pct(j['lower'])} … {_pct(j['upper'])}</td>"
                f"<td class='{cls}'>{_e(j['verdict'].upper())}{role}</td><td class='n'>{mde}</td>"
                f"<td class='n'>{j['threshold']:.0%}</td><td>{_e(j['reason'])}</td></tr>"
            )
        loss = stage["loss"]
        rows.append(
            f"<tr><td>{number}</td><td>loss (exact)</td><td></td><td></td><td></td>"
            f"<td class='{_VERDICT_CLASS.get(loss['verdict'], 'none')}'>{_e(loss['verdict'].upper())}</td><td></td>"
            f"<td class='n'>{loss['budget']:.2%}</td><td>{_e(loss['reason'])}</td></tr>"
        )
    headers = ("stage", "metric", "pairs", "change (estimate)", "confidence bounds", "verdict", "could detect")
    return table("judgements", (*headers, "threshold", "why"), rows)


def _ratio_charts(doc: Mapping[str, Any]) -> str:
    ratios = pair_ratios(doc)
    if not ratios:
        return '<p class="empty">No pair had two usable trials.</p>'
    thresholds = {r["metric"]: float(r["threshold"]) for r in doc["rules"]}
    final = {j["metric"]: j for j in (doc["stages"][-1]["judgements"] if doc["stages"] else [])}
    x = Axis("pair (in the order run)", log=False, fmt=lambda v: f"{v:.0f}")
    y = Axis("candidate / baseline − 1, per cent", log=False, fmt=fmt_number)
    charts = []
    for metric, points in ratios.items():
        first, last = points[0][0], points[-1][0]
        series = [Series("this pair", palette_color(0)[0], tuple((p, 100 * (r - 1)) for p, r in points))]
        series.append(Series("no change", "#999999", ((first, 0.0), (last, 0.0)), dashed=True))
        if metric in thresholds:
            limit = 100 * thresholds[metric]
            series.append(Series(f"threshold +{limit:g} %", palette_color(2)[0], ((first, limit), (last, limit)), True))
        if metric in final and final[metric]["ratio"] is not None:
            estimate = 100 * (float(final[metric]["ratio"]) - 1)
            level = ((first, estimate), (last, estimate))
            series.append(Series(f"estimate {estimate:+.1f} % (last stage)", palette_color(4)[0], level))
        charts.append(line_chart(f"{_title(doc, metric)}: per-pair ratio", series, x, y, height=260))
    return "".join(charts)


def _arm_recorder(trials: Sequence[Mapping[str, Any]], arm: str) -> tuple[LatencyRecorder | None, int]:
    """The gate metric's histogram of an arm's judged trials merged (warm-ups and rejected trials left out)."""
    merged: LatencyRecorder | None = None
    used = 0
    for trial in trials:
        if trial["arm"] != arm or trial["pair"] == 0 or trial["rejected"] or not trial.get("histogram"):
            continue
        try:
            recorder = LatencyRecorder.decode(trial["histogram"])
        except HistogramDecodeError:
            continue
        if merged is None:
            merged = recorder
        else:
            merged.merge(recorder)
        used += 1
    return merged, used


def _spectrum_chart(doc: Mapping[str, Any]) -> str:
    series = []
    for i, arm in enumerate(_ARMS):
        recorder, used = _arm_recorder(doc["trials"], arm)
        if recorder is None:
            continue
        label = f"{arm}: {doc['arms'][arm]['label']} ({used} trials, {recorder.count:,} messages)"
        series.append(Series(label, palette_color(i)[0], recorder_spectrum(recorder)))
    x = Axis("percentile (log scale of 1/(1−p))", log=True, fmt=percentile_label, ticks=decade_ticks)
    y = Axis("latency ms (log)", log=True, fmt=fmt_number)
    return line_chart(f"{doc['plan']['metric']}: percentile spectrum of the judged trials, per arm", series, x, y)


def _figure(figures: Mapping[str, float], metric: str) -> str:
    value = figures.get(metric)
    return "–" if value is None else f"{value:,.0f}"


def _trials_table(doc: Mapping[str, Any]) -> str:
    metrics = ("cpu_per_message", "p50", "p90", "p99")
    rows = []
    for t in doc["trials"]:
        loss = t["loss"]
        steal = "–" if t["steal_percent"] is None else f"{t['steal_percent']:.1f} %"
        status = "warm-up" if t["pair"] == 0 else ("; ".join(t["rejected"]) or "used")
        rows.append(
            f"<tr><td class='n'>{t['pair']}</td><td>{_e(t['arm'])}</td><td class='n'>{t['attempt']}</td>"
            + "".join(f"<td class='n'>{_figure(t['figures'], m)}</td>" for m in metrics)
            + f"<td class='n'>{t['delivered']:,}</td><td class='n'>{loss['lost']:,} / {loss['duplicated']:,}</td>"
            f"<td class='n'>{steal}</td><td class='n'>{t['hiccup_ms']:.1f}</td><td>{_e(status)}</td></tr>"
        )
    headers = ("pair", "arm", "attempt", "CPU µs / message", "p50 µs", "p90 µs", "p99 µs", "delivered")
    return table("trials", (*headers, "lost / duplicated", "steal", "hiccup ms", "status"), rows)


def _arms_table(doc: Mapping[str, Any]) -> str:
    rows = []
    for arm in _ARMS:
        a = doc["arms"][arm]
        build = a.get("build")
        built = "–"
        if build:
            built = "reused" if build.get("reused") else f"built in {build.get('build_s', 0):.0f} s"
        env = ", ".join(f"{k}={v}" for k, v in sorted((a.get("environment") or {}).items())) or "–"
        rows.append(
            f"<tr><th>{arm}</th><td>{_e(a['label'])}</td><td>{_e(a.get('revision') or '–')}</td>"
            f"<td>{_e(a['url'])}</td><td>{_e(' '.join(str(p) for p in a.get('pids', [])) or '–')}</td>"
            f"<td>{_e(built)}</td><td>{_e(env)}</td></tr>"
        )
    return table("arms", ("", "what", "revision", "URL", "server pids", "build", "environment"), rows)


def render_gate_report(doc: Mapping[str, Any]) -> str:
    """report.html of a gate document (the parsed gate.json)."""
    verdict = str(doc["verdict"])
    cls = _VERDICT_CLASS.get(verdict, "none")
    pairs = sum(int(s["pairs"]) for s in doc["stages"])
    took = "re-judged from recorded trials" if doc["rejudged_from"] else f"{doc['wall_s'] / 60:.1f} min"
    notes = "".join(f"<li>{_e(n)}</li>" for n in doc["notes"])
    rejected = sum(1 for t in doc["trials"] if t["rejected"])
    name = doc["scenario"]["name"]
    body = [
        f"<h1>{_e(name)}: gate report</h1>",
        f'<p class="meta">gate {_e(doc["gate_id"])} · {pairs} interleaved pairs of {doc["plan"]["trial_s"]:g} s '
        f"trials · {_e(took)} · first arm {_e(doc['plan']['first_arm'])} · seed {doc['plan']['seed']} · "
        f"gate.json schema v{_e(doc['schema_version'])}</p>",
        f'<div class="verdict {cls}">{_e(verdict.upper())} (exit {doc["exit_code"]})</div>',
        f"<ul>{notes}</ul>" if notes else "",
        "<h2>What was compared</h2>",
        _arms_table(doc),
        "<h2>Verdict per metric and stage</h2>",
        "<p>Change = candidate / baseline − 1 over paired trials: Hodges–Lehmann estimate, bounds from the exact "
        "signed-rank test; a stage's looks and the metrics' corrections are in docs/ci.md.</p>",
        _judgements_table(doc),
        "<h2>Per-pair ratios</h2>",
        _ratio_charts(doc),
        "<h2>Percentile spectra</h2>",
        _spectrum_chart(doc),
        f"<h2>Trials ({rejected} rejected)</h2>",
        _trials_table(doc),
        "<h2>Environment</h2>",
        fingerprint_table(doc.get("fingerprint", {})),
    ]
    return page(f"{name}: channels-harness gate", body)
