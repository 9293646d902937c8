"""harness.report.progress: the line's wording, in-place rewriting on a TTY and throttled lines in a log."""

from __future__ import annotations

import io

import pytest

from harness.report.progress import ProgressLine, ProgressState, format_duration, format_progress


def state(**kw):
    base = dict(
        phase="measuring",
        cell_index=2,
        cell_count=4,
        cell_label="uvicorn+inmemory, 1 worker",
        elapsed_s=12.4,
        total_s=14.0,
        users=10,
        window_s=5,
        msgs_per_s=198.2,
        response_p99_us=4_213,
        errors=0,
    )
    base.update(kw)
    return ProgressState(**base)


def test_format_progress():
    assert format_progress(state()) == (
        "measuring | cell 2/4 uvicorn+inmemory, 1 worker | 0:12/0:14 | users 10 | "
        "last 5 s: 198 msgs/s, response-time p99 4.21 ms | errors 0"
    )
    line = format_progress(state(response_p99_us=None, msgs_per_s=2.25, errors=3, phase="starting"))
    assert line.startswith("starting | ") and "response-time p99 –" in line and "2.2 msgs/s" in line
    assert line.endswith("errors 3")
    assert "no complete second yet" in format_progress(state(window_s=0, msgs_per_s=None))


def test_the_line_shows_the_generators_own_windowed_figures(tmp_path):
    """The figure is the harness's windowed response-time p99 from the generator's live file, named as such;
    never Locust's rounded cumulative p99 of round trips (which read 40 ms in a run whose p99 was 2.96 ms)."""
    from harness.run.cell import _read_live

    live = tmp_path / "live.json"
    assert _read_live(live) is None, "nothing written yet: no figures rather than invented ones"
    live.write_text(
        '{"users": 10, "window_s": 5, "deliveries_per_s": 198.2, "response_time_p99_us": 2960, '
        '"connections": 10, "errors": 0}'
    )
    figures = _read_live(live)
    assert figures is not None and figures.response_p99_us == 2960 and figures.window_s == 5
    line = format_progress(state(response_p99_us=figures.response_p99_us, window_s=figures.window_s))
    assert "last 5 s" in line and "response-time p99 2.96 ms" in line
    live.write_text('{"users": 10}')
    assert _read_live(live) is None, "a file without the figures shows none"


@pytest.mark.parametrize(("s", "text"), [(0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3_725, "1:02:05"), (-3, "0:00")])
def test_format_duration(s, text):
    assert format_duration(s) == text


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_tty_rewrites_one_line_in_place():
    out = FakeTty()
    line = ProgressLine(out)
    line.update(state(cell_label="a much longer label than the next one"))
    line.update(state(cell_label="short"))
    line.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    first, second = text.split("\r")[1:]
    assert len(second.rstrip("\n")) >= len(first), "the shorter line is padded over the longer one"


def test_log_output_is_throttled_but_phase_changes_print():
    out = io.StringIO()
    now = [0.0]
    line = ProgressLine(out, log_interval_s=10.0, clock=lambda: now[0])
    for t in (0.0, 1.0, 2.0, 9.0):
        now[0] = t
        line.update(state(elapsed_s=t))
    now[0] = 9.5
    line.update(state(phase="grace"))
    now[0] = 20.0
    line.update(state(phase="grace"))
    line.close()
    lines = out.getvalue().splitlines()
    assert [ln.split(" | ")[0] for ln in lines] == ["measuring", "grace", "grace"]
    assert "\r" not in out.getvalue()
