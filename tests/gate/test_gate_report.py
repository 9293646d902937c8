"""report.html of a gate, from recorded gate.json files."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from harness.report.gate_html import pair_ratios, render_gate_report

DATA = Path(__file__).parent / "data"


def _doc() -> dict:
    return json.loads((DATA / "ab-busy-echo-plus-20pct.gate.json").read_text())


def test_pair_ratios_are_candidate_over_baseline_per_used_pair_in_order() -> None:
    doc = _doc()
    ratios = pair_ratios(doc)
    assert set(ratios) == {"cpu_per_message", "p50", "p90", "p99"}
    pairs = [p for p, _ in ratios["p50"]]
    assert pairs == sorted(pairs) and 0 not in pairs and len(pairs) == 16
    trials = {(t["pair"], t["arm"]): t["figures"] for t in doc["trials"]}
    for pair, ratio in ratios["cpu_per_message"]:
        expected = trials[(pair, "candidate")]["cpu_per_message"] / trials[(pair, "baseline")]["cpu_per_message"]
        assert math.isclose(ratio, expected)
    # A rejected trial takes its pair out.
    rejected = copy.deepcopy(doc)
    next(t for t in rejected["trials"] if t["pair"] == 3 and t["arm"] == "baseline")["rejected"] = ["stalled"]
    assert 3 not in [p for p, _ in pair_ratios(rejected)["p50"]]


def test_the_page_holds_verdict_ratios_spectra_and_every_trial_escaped() -> None:
    doc = _doc()
    doc["arms"]["candidate"]["label"] = "<script>alert(1)</script>"
    doc["trials"][5]["rejected"] = ["hiccup <b>90 ms</b>"]
    page = render_gate_report(doc)
    assert '<div class="verdict fail">REGRESSION (exit 3)</div>' in page
    assert page.count(": per-pair ratio</h3>") == 4
    assert "threshold +10 %" in page and "threshold +15 %" in page
    # Both arms' spectra, over the judged trials only: 16 per arm, no warm-up, and the rejected baseline one out.
    assert doc["trials"][5]["arm"] == "baseline"
    assert "baseline: ws://127.0.0.1:18801/ (15 trials, 24,000 messages)" in page
    assert "candidate: &lt;script&gt;alert(1)&lt;/script&gt; (16 trials, 25,600 messages)" in page
    assert "<script>" not in page and "hiccup &lt;b&gt;90 ms&lt;/b&gt;" in page
    assert page.count("<tr><td class='n'>") == len(doc["trials"])
    assert "+16.5%" in page  # the first stage's estimate of CPU per message
