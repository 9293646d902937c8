"""The live progress line of a run: phase, cell i/n, elapsed/total, users, the last seconds' figures, errors.

:func:`format_progress` is a pure function so the wording is tested without a terminal. :class:`ProgressLine`
rewrites one line in place on a TTY (``\\r``) and, when output goes to a file or a CI log, writes a whole line at
most once per interval, because a log full of carriage returns is unreadable and a line per update floods it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TextIO

from harness.results.format import format_ms

__all__ = ["ProgressLine", "ProgressState", "format_duration", "format_progress"]

_DEFAULT_LOG_INTERVAL_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class ProgressState:
    """A snapshot of the running cell.

    Attributes:
        phase: ``starting``, ``measuring`` (``measuring group size N`` in fan-out) or ``stopping``.
        cell_index: 1-based index of the running cell.
        cell_count: cells in the run.
        cell_label: e.g. ``daphne+redis, 1 worker``.
        elapsed_s: seconds since the cell started.
        total_s: planned seconds of the cell (warm-up + measurement + grace).
        users: Locust users running now.
        window_s: whole seconds the windowed figures below cover; 0 before the first.
        msgs_per_s: messages received per second over the window, None before the first.
        response_p99_us: p99 response time (from the intended send) over the window, None without deliveries.
        errors: connect failures plus unexpected closes so far.
    """

    phase: str
    cell_index: int
    cell_count: int
    cell_label: str
    elapsed_s: float
    total_s: float
    users: int
    window_s: int
    msgs_per_s: float | None
    response_p99_us: int | None
    errors: int


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above; negative values count as 0."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(state: ProgressState) -> str:
    """Render one progress line, e.g. ``measuring | cell 2/4 uvicorn+inmemory, 1 worker | 0:12/0:14 | users 10 |
    last 5 s: 198 msgs/s, response-time p99 4.21 ms | errors 0``.

    The figures are the generator's own over its newest whole seconds (never Locust's rounded cumulative stats), so
    the line shows what the cell is doing now; the result's percentiles are over the whole measurement window.
    """
    if state.msgs_per_s is None or not state.window_s:
        window = "no complete second yet"
    else:
        rate = f"{state.msgs_per_s:.0f}" if state.msgs_per_s >= 10 else f"{state.msgs_per_s:.1f}"
        p99 = "–" if state.response_p99_us is None else f"{format_ms(state.response_p99_us)} ms"
        window = f"last {state.window_s} s: {rate} msgs/s, response-time p99 {p99}"
    return " | ".join(
        (
            state.phase,
            f"cell {state.cell_index}/{state.cell_count} {state.cell_label}",
            f"{format_duration(state.elapsed_s)}/{format_duration(state.total_s)}",
            f"users {state.users}",
            window,
            f"errors {state.errors}",
        )
    )


class ProgressLine:
    """Writes progress to ``stream``: in place on a TTY, one line per ``log_interval_s`` otherwise.

    Args:
        stream: where to write (normally ``sys.stderr``, so stdout stays clean for results).
        log_interval_s: minimum seconds between lines when ``stream`` is not a TTY; a phase change always prints.
        clock: monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        log_interval_s: float = _DEFAULT_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._interval = log_interval_s
        self._clock = clock
        self._last_width = 0
        self._last_log: float | None = None
        self._last_phase: tuple[str, int] | None = None

    def update(self, state: ProgressState) -> None:
        """Show ``state``."""
        line = format_progress(state)
        if self._tty:
            # Pad with spaces so a shorter line fully covers the previous one.
            pad = max(0, self._last_width - len(line))
            self._stream.write("\r" + line + " " * pad)
            self._last_width = len(line)
            self._stream.flush()
            return
        now = self._clock()
        phase = (state.phase, state.cell_index)
        due = self._last_log is None or now - self._last_log >= self._interval
        if due or phase != self._last_phase:
            self._stream.write(line + "\n")
            self._stream.flush()
            self._last_log = now
            self._last_phase = phase

    def close(self) -> None:
        """End the in-place line so later output starts on a fresh line."""
        if self._tty and self._last_width:
            self._stream.write("\n")
            self._stream.flush()
            self._last_width = 0
