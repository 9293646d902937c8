"""The files of a gate run, rendered from its ``gate.json`` document alone: ``summary.md``, ``junit.xml`` and
``report.html`` (``harness.report.gate_html``).

``summary.md`` is written for a pull-request comment or ``$GITHUB_STEP_SUMMARY``; ``junit.xml`` has one test case
per judged metric and one for loss, so CI systems that read JUnit show which metric failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree as ET

import orjson

from harness.report.gate_html import render_gate_report

__all__ = ["GATE_EXPORTERS", "render_junit", "render_summary", "write_gate_files"]

_TITLES: Final = {
    "cpu_per_message": "server CPU per delivered message",
    "p50": "p50",
    "p90": "p90",
    "p99": "p99",
}
_VERDICT_WORDS: Final = {
    "regression": "REGRESSION",
    "no regression": "NO REGRESSION",
    "inconclusive": "INCONCLUSIVE",
    "open": "open",
}


def _metric_title(doc: Mapping[str, Any], metric: str) -> str:
    if metric == "cpu_per_message":
        return _TITLES[metric]
    return f"{doc['plan']['metric']} {metric}"


def _pct(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return "unbounded"
    return f"{ratio - 1:+.1%}"


def _final_judgements(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The judgements that decided: the last stage's (the confirmation's when there was one)."""
    return list(doc["stages"][-1]["judgements"]) if doc["stages"] else []


def _pairs(doc: Mapping[str, Any]) -> int:
    return sum(int(s["pairs"]) for s in doc["stages"])


def render_summary(doc: Mapping[str, Any]) -> str:
    """Markdown: the verdict, one row per metric, loss, what was compared and how long it took."""
    verdict = _VERDICT_WORDS[doc["verdict"]]
    arms = doc["arms"]
    took = "re-judged from recorded trials" if doc["rejudged_from"] else f"{doc['wall_s'] / 60:.1f} min"
    lines = [
        f"## harness gate: {verdict}",
        "",
        f"Scenario `{doc['scenario']['name']}`: **{arms['candidate']['label']}** (candidate) against "
        f"**{arms['baseline']['label']}** (baseline), {_pairs(doc)} interleaved pairs of "
        f"{doc['plan']['trial_s']:g} s trials, {took}.",
        "",
        "| metric | change (estimate) | confidence bounds | verdict | could detect | threshold |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for j in _final_judgements(doc):
        word = _VERDICT_WORDS[j["verdict"]]
        if not j["hard"] and j["verdict"] != "no regression":
            word += " (advisory)"
        mde = "n/a" if j["mde"] is None else f"{j['mde']:.0%}"
        lines.append(
            f"| {_metric_title(doc, j['metric'])} | {_pct(j['ratio'])} | {_pct(j['lower'])} … {_pct(j['upper'])} "
            f"| {word} | {mde} | {j['threshold']:.0%} |"
        )
    if doc["stages"]:
        loss = doc["stages"][-1]["loss"]
        lines.append(f"| loss (exact) | | | {_VERDICT_WORDS[loss['verdict']]} | | {loss['budget']:.2%} |")
    lines.append("")
    if len(doc["stages"]) > 1:
        first = ", ".join(doc["stages"][0]["regressed"]) or "nothing"
        again = ", ".join(doc["confirmed"]) or "nothing"
        lines.append(f"The first stage flagged {first}; a fresh set of pairs found {again} slower again.")
    for stage in doc["stages"]:
        if stage["loss"]["verdict"] != "no regression" or stage["loss"]["candidate"]["lost"]:
            lines.append(f"Loss: {stage['loss']['reason']}.")
    rejected = [t for t in doc["trials"] if t["rejected"]]
    if rejected:
        lines.append(f"{len(rejected)} trial(s) were rejected and their pairs run again (not judged):")
        lines += [f"- pair {t['pair']} {t['arm']}: {'; '.join(t['rejected'])}" for t in rejected]
    if not any("cpu_per_message" in t["figures"] for t in doc["trials"]):
        lines.append(
            "Server CPU per message was not measured: the servers are not known to this machine "
            "(give `--baseline-pid`/`--candidate-pid`)."
        )
    lines += [f"- {note}" for note in doc["notes"]]
    lines += [
        "",
        "Ratios are candidate / baseline over paired trials (Hodges–Lehmann estimate, exact signed-rank bounds); "
        "a metric fails only when it is significantly slower, confirmed by fresh pairs, and above its floor.",
        "",
    ]
    return "\n".join(lines)


def render_junit(doc: Mapping[str, Any]) -> str:
    """JUnit XML: a test suite ``harness-gate.<scenario>`` with a case per metric and one for loss."""
    cases = []
    for j in _final_judgements(doc):
        cases.append((j["metric"], j["verdict"], j["hard"], j["reason"]))
    if doc["stages"]:
        loss = doc["stages"][-1]["loss"]
        cases.append(("loss", loss["verdict"], True, loss["reason"]))
    suite = ET.Element(
        "testsuite",
        name=f"harness-gate.{doc['scenario']['name']}",
        tests=str(len(cases)),
        failures=str(sum(1 for _, v, hard, _ in cases if v == "regression" and hard)),
        skipped=str(sum(1 for _, v, hard, _ in cases if v == "inconclusive" or (v == "regression" and not hard))),
        time=f"{doc['wall_s']:.1f}",
    )
    for metric, verdict, hard, reason in cases:
        case = ET.SubElement(suite, "testcase", classname=f"gate.{doc['scenario']['name']}", name=metric)
        if verdict == "regression" and hard and doc["verdict"] == "regression":
            ET.SubElement(case, "failure", message=f"REGRESSION: {reason}", type="regression").text = reason
        elif verdict == "regression" and hard:
            ET.SubElement(case, "skipped", message=f"not confirmed: {reason}")
        elif verdict == "inconclusive" or verdict == "regression":
            ET.SubElement(case, "skipped", message=f"{_VERDICT_WORDS[verdict]}: {reason}")
        ET.SubElement(case, "system-out").text = reason
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _write_json(doc: Mapping[str, Any], out: Path) -> Path:
    path = out / "gate.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def _write_summary(doc: Mapping[str, Any], out: Path) -> Path:
    path = out / "summary.md"
    path.write_text(render_summary(doc), encoding="utf-8")
    return path


def _write_junit(doc: Mapping[str, Any], out: Path) -> Path:
    path = out / "junit.xml"
    path.write_text(render_junit(doc), encoding="utf-8")
    return path


def _write_html(doc: Mapping[str, Any], out: Path) -> Path:
    path = out / "report.html"
    path.write_text(render_gate_report(doc), encoding="utf-8")
    return path


#: The gate's exporters, by the file they write; one more output format is one more entry.
GATE_EXPORTERS: Final = {
    "gate.json": _write_json,
    "summary.md": _write_summary,
    "junit.xml": _write_junit,
    "report.html": _write_html,
}


def write_gate_files(doc: Mapping[str, Any], out: Path) -> dict[str, Path]:
    """Write every exporter's file into ``out``; returns them by name."""
    out.mkdir(parents=True, exist_ok=True)
    return {name: write(doc, out) for name, write in GATE_EXPORTERS.items()}
