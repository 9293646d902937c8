"""harness.report: a self-contained page with the tables and SVG charts, escaped, with the right warnings."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from harness.measure.latency import LatencyRecorder
from harness.report import render_report
from harness.report.text import summary_table
from harness.results import JoinStormPhase
from tests.report.conftest import as_version_1


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", page, flags=re.S)


@pytest.mark.parametrize("n", [1, 4])
def test_renders_tables_and_charts_for_one_and_four_cells(make_result, n):
    page = render_report(make_result(n, group_sizes=(1, 10, 100, 1000)))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for anchor in ('id="summary"', 'id="verdicts"', 'id="fingerprint"', 'id="fanout"', 'id="delivery"'):
        assert anchor in page
    charts = svgs(page)
    # spectrum x2 metrics; per second: response p99, service p99, throughput, connections, errors; fan-out by
    # group size; CPU; RSS
    assert len(charts) == 10
    for chart in charts:
        ElementTree.fromstring(chart)  # well-formed XML, so every browser draws it
    assert page.count("daphne+inmemory, 1 worker") >= 3
    assert "percentile spectrum" in page and "fan-out latency by group size" in page
    assert "99.9%" in page, "the spectrum's x axis is labelled in percentiles"
    if n == 4:
        assert "uvicorn+redis, 1 worker" in page


def test_self_contained(make_result):
    page = render_report(make_result(2))
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page


def test_escapes_a_malicious_scenario_name(make_result):
    evil = '<script>alert("x")</script>'
    page = render_report(make_result(1, scenario=evil))
    assert evil not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_generator_bound_banner_only_when_flagged(make_result):
    assert "GENERATOR-BOUND RUN" not in render_report(make_result(2))
    page = render_report(make_result(2, generator_bound=True))
    assert 'class="banner"' in page and "GENERATOR-BOUND RUN" in page
    assert "worker CPU 97 % &gt; 90 %" in page


def test_out_of_range_warning(make_result):
    assert "underestimates" not in render_report(make_result(1))
    page = render_report(make_result(1, out_of_range=4))
    assert "4 samples were above the histogram range" in page
    assert "high percentiles are underestimates" in page


def test_verdict_banner(make_result):
    assert "PASS: all 2 SLO checks met" in render_report(make_result(1))
    assert "FAIL: 1 of 2 SLO checks breached" in render_report(make_result(1, lost=1))
    assert "No SLOs configured" in render_report(make_result(1, slos=()))


def test_renders_a_cell_without_samples_or_series(make_result):
    doc = make_result(1)
    cell = doc["cells"][0]
    cell["metrics"] = {}
    del cell["timeseries"]
    cell["server_resources"]["processes"] = []
    page = render_report(doc)
    assert "No latency metrics in the result." in page
    assert "no per-interval samples" in page and "No server resource samples" in page


def _chart_titled(page: str, title: str) -> str:
    match = re.search(r"<h3>" + re.escape(title) + r"</h3>(<svg .*?</svg>)", page, flags=re.S)
    assert match, f"no chart titled {title!r}"
    return match.group(1)


def _y_values_plotted(chart: str) -> int:
    return len(re.findall(r"[ML][0-9.]+,[0-9.]+", chart))


def test_per_second_charts_name_what_was_measured(make_result):
    doc = make_result(1)
    page = render_report(doc)
    # Version 1 titled a service-time series "response_time"; each figure now has its own, named chart.
    assert "(response_time)" not in page
    response = _chart_titled(
        page, "p99 response time per second (from the intended send: corrected for coordinated omission)"
    )
    service = _chart_titled(page, "p99 service time per second (from the actual send)")
    points = doc["cells"][0]["timeseries"]["points"]
    with_samples = sum(1 for p in points if p["response_time_p99_us"] is not None)
    assert _y_values_plotted(response) == _y_values_plotted(service) == with_samples
    assert response != service, "the two charts plot different values"
    assert "open connections held by the generator" in page


def test_no_errors_chart_when_no_interval_had_errors(make_result):
    doc = make_result(1)
    for point in doc["cells"][0]["timeseries"]["points"]:
        point["errors"] = 0
    assert "errors per second" not in render_report(doc)


def test_a_version_1_result_shows_its_series_as_the_service_time_it_was(make_result):
    doc = as_version_1(make_result(1))
    ts = doc["cells"][0]["timeseries"]
    page = render_report(doc)
    service = _chart_titled(page, "p99 service time per second (from the actual send)")
    assert _y_values_plotted(service) == sum(1 for p in ts["points"] if p["p99_us"] is not None)
    assert "No data for this chart" in page, "nothing is plotted as response time"


def test_a_gap_between_generator_runs_breaks_the_line(make_result):
    doc = make_result(1)
    points = doc["cells"][0]["timeseries"]["points"]
    chart_title = "throughput: messages received per second"
    assert _chart_titled(render_report(doc), chart_title).count('d="M') == 1
    # Seconds 4-6 missing: no generator ran then (as between the group sizes of a fan-out cell).
    doc["cells"][0]["timeseries"]["points"] = [p for p in points if not 4 <= p["t_s"] <= 6]
    chart = _chart_titled(render_report(doc), chart_title)
    path = re.search(r'<path d="([^"]+)"', chart).group(1)
    assert path.count("M") == 2, "the line stops at the gap and starts again after it"


def test_foreign_messages_are_explained_in_the_report_and_the_summary(make_result):
    from harness.report.text import summary_table

    doc = make_result(1)
    assert "not the harness's envelopes" not in render_report(doc)
    doc["cells"][0]["foreign_messages"] = {"missing_key": 15000}
    page = render_report(doc)
    assert "15,000 received messages were not the harness&#x27;s envelopes (missing_key 15,000)" in page
    assert "every key it was sent with" in page
    assert "!! daphne+inmemory x1: 15,000 received messages were not the harness's envelopes" in summary_table(doc)


def _storm(size: int, *, received: int, late: int = 0, connected: int | None = None, settled: bool = True):
    connect = LatencyRecorder()
    for us in (2_000, 3_000, 250_000):
        connect.record_us(us)
    members = size if connected is None else connected
    return JoinStormPhase(
        group_size=size,
        groups=1,
        connected=members,
        connect=connect.summary(),
        presence_received=received,
        presence_after_release=late,
        all_joined=members == size,
        duration_s=size / 10,
        settled=settled,
    )


def test_the_join_storm_is_its_own_table_next_to_the_fanout_by_group_size(make_result):
    storms = (_storm(10, received=55), _storm(100, received=4_000, late=40, connected=99, settled=False))
    doc = make_result(1, group_sizes=(10, 100), join_storms=storms)
    page = render_report(doc)
    assert page.index('id="fanout"') < page.index("<h2>Join storm by group size</h2>") < page.index('id="join-storm"')
    table = page[page.index('id="join-storm"') :].split("</table>")[0]
    assert "55 of 55–100" in table and "4,000 of ≤10,000" in table, "a failed member leaves only the upper bound"
    assert "99 of 100" in table and '<td class="fail">NO</td>' in table and '<td class="pass">yes</td>' in table
    assert "the join storm of group size 100 did not settle before the barrier&#x27;s time-out" in page
    assert "(40 join presence frames were read in the fan-out window)" in page

    text = summary_table(doc)
    rows = {line.split()[2]: line for line in text.splitlines() if line.startswith("daphne+inmemory x1 ")}
    assert "55 of 55–100" in rows["10"] and rows["10"].rstrip().endswith("250 ms") and " yes " in rows["10"]
    assert "4,000 of ≤10,000" in rows["100"] and " NO " in rows["100"] and "99/100" in rows["100"]
    assert "!! daphne+inmemory x1: the join storm of group size 100 did not settle" in text


def test_join_traffic_in_a_settled_window_is_a_warning_too(make_result):
    doc = make_result(1, group_sizes=(10,), join_storms=(_storm(10, received=55, late=3),))
    assert "3 join presence frames of group size 10 arrived after its members were let send" in render_report(doc)
    assert "!! daphne+inmemory x1: 3 join presence frames" in summary_table(doc)


def test_join_frames_outside_the_range_of_a_whole_room_are_named(make_result):
    doc = make_result(1, group_sizes=(10, 20), join_storms=(_storm(10, received=40), _storm(20, received=401)))
    page, text = render_report(doc), summary_table(doc)
    for out in (page, text):
        assert "group size 10: 15 join presence frames were lost (40 received, at least 55 sent" in out
        assert "group size 20: 401 join presence frames received, more than the 400" in out
    whole = make_result(1, join_storms=(_storm(10, received=100),))
    assert "join presence frames were lost" not in render_report(whole) and "twice" not in summary_table(whole)


def test_no_join_storm_section_without_a_fanout_run(make_result):
    doc = make_result(1)
    assert "Join storm" not in render_report(doc) and "join storm" not in summary_table(doc)
