"""The outputs of ``harness conform``: index.json, report.html and junit.xml, all rendered from one index document."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.conformance.matrix import FAILING, ConformConfig, Record
from harness.measure.fingerprint import collect_fingerprint

__all__ = [
    "differences",
    "index_document",
    "render_conformance_report",
    "render_junit",
    "summarise",
    "write_outputs",
]


def summarise(records: Sequence[Record]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = {}
    for r in records:
        table.setdefault(f"{r.group}: {r.cell}", Counter())[r.behaviour] += 1
    return {cell: dict(sorted(counts.items())) for cell, counts in sorted(table.items())}


def differences(records: Sequence[Record]) -> list[tuple[str, str, dict[str, str]]]:
    """(group, check id, {cell: behaviour}) for every check whose behaviour is not the same in all cells that ran it."""
    by_check: dict[tuple[str, str], dict[str, str]] = {}
    for r in records:
        by_check.setdefault((r.group, r.id), {})[r.cell] = r.behaviour
    return [(group, check, cells) for (group, check), cells in sorted(by_check.items()) if len(set(cells.values())) > 1]


def index_document(records: Sequence[Record], config: ConformConfig, argv: Sequence[str]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "fingerprint": collect_fingerprint(argv=list(argv)).to_dict(),
        "config": {
            "implementations": list(config.implementations),
            "layers": list(config.layers),
            "groups": list(config.groups),
            "target": config.target,
            "include_slow": config.include_slow,
        },
        "summary": summarise(records),
        "checks": [r.to_json() for r in records],
    }


_COLOURS = {
    "OK": "#d7f0d9",
    "NON-STRICT": "#fff3c4",
    "INFORMATIONAL": "#e3ecf7",
    "UNIMPLEMENTED": "#eeeeee",
    "N/A": "#f7f7f7",
    "FAILED": "#f6c6c6",
    "KNOWN DEVIATION": "#f4dcc2",
}


def _cell(value: str) -> str:
    return f'<td style="background:{_COLOURS.get(value, "#fff")}">{html.escape(value)}</td>'


def render_conformance_report(document: dict[str, Any]) -> str:
    checks = document["checks"]
    records = [Record(**{k: v for k, v in c.items()}) for c in checks]
    verdicts = sorted({r.behaviour for r in records})
    rows = "".join(
        f"<tr><td>{html.escape(cell)}</td>" + "".join(f"<td>{counts.get(v, 0)}</td>" for v in verdicts) + "</tr>"
        for cell, counts in document["summary"].items()
    )
    diffs = differences(records)
    diff_cells = sorted({cell for _, _, cells in diffs for cell in cells})
    diff_rows = "".join(
        f"<tr><td>{html.escape(group)}</td><td>{html.escape(check)}</td>"
        + "".join(_cell(cells.get(c, "")) for c in diff_cells)
        + "</tr>"
        for group, check, cells in diffs
    )
    failures = "".join(
        f"<details><summary>{html.escape(r.group)} {html.escape(r.id)} — {html.escape(r.cell)}: "
        f"{html.escape(r.behaviour)}{' (known deviation)' if r.known_deviation else ''}</summary>"
        f"<p>{html.escape(r.source)}</p><p>{html.escape('; '.join(r.notes))}</p>"
        + (f"<p>Upstream: {html.escape(r.known_deviation)}</p>" if r.known_deviation else "")
        + (f"<pre>{html.escape(chr(10).join(r.wire_log))}</pre>" if r.wire_log else "")
        + "</details>"
        for r in records
        if r.behaviour in FAILING or r.known_deviation
    )
    failing = sum(1 for r in records if r.fails_run)
    verdict = (
        f'<p class="bad">FAILED: {failing} check(s) failed that are not known deviations</p>'
        if failing
        else '<p class="good">No unexpected failures</p>'
    )
    fp = document["fingerprint"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>channels-harness conformance</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}
td,th{{border:1px solid #ccc;padding:.2rem .5rem;font-size:.85rem;text-align:left}} th{{background:#f2f2f2}}
.bad{{background:#b00020;color:#fff;padding:.6rem;font-weight:bold}} .good{{background:#d7f0d9;padding:.6rem}}
details{{margin:.3rem 0}} pre{{background:#f7f7f7;padding:.5rem;overflow-x:auto;font-size:.75rem}}
</style></head><body>
<h1>Conformance report</h1>
<p>{html.escape(document["created"])} · {html.escape(str(fp.get("cpu_model", "")))} · commit
{html.escape(str(fp.get("git_commit", "")))} · {len(records)} check runs</p>
{verdict}
<h2>Verdicts per group and cell</h2>
<table><tr><th>group: server/ws implementation x layer</th>{"".join(f"<th>{html.escape(v)}</th>" for v in verdicts)}
</tr>
{rows}</table>
<h2>Where cells differ ({len(diffs)} checks)</h2>
<table><tr><th>group</th><th>check</th>{"".join(f"<th>{html.escape(c)}</th>" for c in diff_cells)}</tr>
{diff_rows}</table>
<h2>Failures and known deviations</h2>
{failures or "<p>None.</p>"}
</body></html>
"""


def render_junit(document: dict[str, Any]) -> bytes:
    suites = ET.Element("testsuites", name="channels-harness conformance")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for check in document["checks"]:
        cell = f"{check['group']}.{check['server']}.{check['ws_impl']}.{check['layer']}"
        grouped.setdefault(cell, []).append(check)
    for name, checks in sorted(grouped.items()):
        failures = [c for c in checks if c["behaviour"] in FAILING and not c["known_deviation"]]
        skipped = [c for c in checks if c["behaviour"] in {"N/A", "UNIMPLEMENTED"} or c["known_deviation"]]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=name,
            tests=str(len(checks)),
            failures=str(len(failures)),
            skipped=str(len(skipped)),
            time=f"{sum(c['duration_s'] for c in checks):.3f}",
        )
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=name, name=check["id"], time=f"{check['duration_s']:.4f}")
            if check in failures:
                failure = ET.SubElement(case, "failure", message=f"{check['behaviour']}: {check['source']}")
                failure.text = "\n".join([*check["notes"], *check["wire_log"]])
            elif check in skipped:
                reason = (
                    f"known deviation: {check['known_deviation']}" if check["known_deviation"] else check["behaviour"]
                )
                ET.SubElement(case, "skipped", message=reason)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def write_outputs(
    records: Sequence[Record], config: ConformConfig, out_dir: Path, argv: Sequence[str]
) -> dict[str, Any]:
    document = index_document(records, config, argv)
    (out_dir / "index.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    (out_dir / "report.html").write_text(render_conformance_report(document))
    (out_dir / "junit.xml").write_bytes(render_junit(document))
    return document
