"""Run the harness's Locust generator headless in subprocesses and read back what it measured.

:func:`run_generator` starts ``locust -f harness/load/locustfile.py --headless`` (a local runner, or a
master with ``--processes N`` workers), waits for it with a timeout, keeps Locust's CSV files and
the log in ``out_dir``, and parses the merged result JSON the master wrote at test stop
(shape: ``docs/generator.md``). Locust runs in its own process because it monkey-patches the
standard library with gevent; the caller's process stays untouched.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from harness.load.options import RECONNECT_KINDS, check_warmup_from
from harness.load.settle import DEFAULT_QUIET_S, DEFAULT_TIMEOUT_S
from harness.stack.processes import ManagedProcess

__all__ = ["GENERATOR_FILE", "LIVE_FILE", "LOCUSTFILE", "GeneratorError", "GeneratorResult", "run_generator"]

LOCUSTFILE: Final = Path(__file__).resolve().with_name("locustfile.py")
_ROOT: Final = LOCUSTFILE.parents[2]
#: Name, in ``out_dir``, of the merged result the master writes at test stop (not the run's result.json).
GENERATOR_FILE: Final = "generator.json"
#: Name, in ``out_dir``, of the figures the running generator rewrites every second (``--harness-live``).
LIVE_FILE: Final = "live.json"
#: Seconds allowed beyond the planned run time for start-up, final reports and shutdown.
_SLACK_S: Final = 60.0
#: Seconds of Locust's run time beyond a settle time-out: spawning completes a little after the last spawn (a master
#: waits for its workers' counts first), and the barrier's time-out counts from there.
_SETTLE_MARGIN_S: Final = 5.0


class GeneratorError(RuntimeError):
    """The generator did not produce a result; the message names the step and ends with the log tail."""


@dataclass(frozen=True, slots=True)
class GeneratorResult:
    """What one generator run produced.

    Attributes:
        result: the merged result document (see ``docs/generator.md``).
        result_path: where the master wrote it.
        csv_prefix: Locust's ``--csv`` prefix (``<prefix>_stats.csv``, ``_stats_history.csv``...).
        log_path: Locust's combined stdout and stderr.
        returncode: Locust's exit code (1 when any request event failed, e.g. an unexpected close).
        command: the command line that was run.
        run_time_s: the ``--run-time`` given to Locust.
    """

    result: dict[str, Any]
    result_path: Path
    csv_prefix: Path
    log_path: Path
    returncode: int
    command: tuple[str, ...]
    run_time_s: int

    @property
    def summaries(self) -> dict[str, dict[str, Any]]:
        """Latency summaries by metric name (µs)."""
        return dict(self.result["summaries"])

    @property
    def delivery(self) -> dict[str, Any]:
        """Delivery counts summed over all (sender, receiver) streams."""
        return dict(self.result["delivery"])

    @property
    def generator_bound(self) -> bool:
        return bool(self.result["generator_health"]["generator_bound"])

    def request_failures(self) -> tuple[tuple[int, str], ...]:
        """(count, "name: error") of the requests Locust's users recorded as failed, other than connects and
        unexpected closes (counted on their own), most frequent first: an ``app`` user's refused HTTP publish."""
        return self._csv_counts(
            "failures",
            lambda row: (
                (int(row["Occurrences"]), f"{row['Name']}: {row['Error']}")
                if row["Name"] not in ("connect", "unexpected_close")
                else None
            ),
        )

    def user_errors(self) -> tuple[tuple[int, str], ...]:
        """(count, message) of every exception Locust's users raised (its ``_exceptions.csv``), most frequent
        first: a user that raised stopped sending and receiving, so what it would have measured is missing."""
        return self._csv_counts("exceptions", lambda row: (int(row["Count"]), row["Message"]))

    def _csv_counts(
        self, kind: str, read: Callable[[dict[str, str]], tuple[int, str] | None]
    ) -> tuple[tuple[int, str], ...]:
        """The (count, text) rows of Locust's ``_<kind>.csv`` that ``read`` keeps, most frequent first; one row
        saying so when the file cannot be read (an unreadable record of failures must not read as none)."""
        path = Path(f"{self.csv_prefix}_{kind}.csv")
        try:
            with path.open(newline="") as f:
                rows = [row for row in map(read, csv.DictReader(f)) if row is not None]
        except FileNotFoundError:
            return ()
        except (KeyError, ValueError, csv.Error) as exc:
            return ((1, f"{path} could not be read ({exc}); see locust.log"),)
        return tuple(sorted(rows, key=lambda r: -r[0]))


def run_generator(
    target: str,
    kind: str,
    *,
    users: int,
    spawn_rate: float,
    duration_s: float,
    rate_per_user: float,
    arrival: str = "constant",
    processes: int = 0,
    credentials: str | Path | None = None,
    run_id: str | None = None,
    out_dir: str | Path,
    extra_env: Mapping[str, str] | None = None,
    warmup_s: float = 1.0,
    warmup_from: str = "connect",
    settle_quiet_s: float = DEFAULT_QUIET_S,
    settle_timeout_s: float = DEFAULT_TIMEOUT_S,
    grace_s: float = 2.0,
    room_size: int = 0,
    payload_bytes: int = 0,
    max_inflight: int = 0,
    reconnect: bool = False,
    extra_args: Sequence[str] = (),
    timeout_s: float | None = None,
) -> GeneratorResult:
    """Run Locust headless against ``target`` and return the merged result.

    Args:
        target: WebSocket URL (echo, broadcast, connect-storm) or ``ws://host:port`` of the app.
        kind: ``echo``, ``broadcast``, ``chat``, ``notifications``, ``kiosk`` or ``connect-storm``.
        users: Locust users (``-u``).
        spawn_rate: users started per second (``-r``).
        duration_s: how long each user sends (``--harness-send-seconds``). Locust's run time is
            the spawn time + ``warmup_s`` + ``duration_s`` + ``grace_s``, rounded up to a second.
        rate_per_user: messages (connects for connect-storm) per second per user.
        arrival: ``constant``, ``poisson``, ``ramp`` or ``steps`` (the last two need
            ``--harness-rate-end`` / ``--harness-steps`` in ``extra_args``).
        processes: 0 for Locust's local runner; N for a master with ``--processes N`` workers.
        credentials: the reference app's credentials JSON (chat, notifications, kiosk).
        run_id: the run id in every envelope (default: a random one).
        out_dir: receives :data:`GENERATOR_FILE`, ``locust_*.csv``, ``locust.log`` and, while it runs,
            :data:`LIVE_FILE`.
        extra_env: added to the subprocess environment (e.g. ``HARNESS_USER_STEPS``).
        warmup_from: ``connect`` (each user's warm-up starts at its connect, so users spawned later also send
            later), ``start`` (every user sends from ``warmup_s`` after the test's start: one send window for
            all; ``warmup_s`` must then cover the spawning, and Locust's run time does not add the spawn time) or
            ``settle`` (every user of a process sends from ``warmup_s`` after its rooms were joined, see
            :mod:`harness.load.settle`; Locust's run time leaves room for ``settle_timeout_s``, and the generator
            ends the test ``grace_s`` after the last send).
        settle_quiet_s: with ``settle``: seconds without join traffic that make the rooms joined.
        settle_timeout_s: with ``settle``: seconds after spawning when the users send anyway.
        warmup_s: seconds between a user's connect and its first send, so every member has joined
            before anyone sends.
        grace_s: seconds after the last send for in-flight messages to arrive.
        room_size: users per room/URL (broadcast, chat), recipients (notifications).
        payload_bytes: pad each message to this size.
        max_inflight: unanswered own messages per user before sending waits (0: no limit).
        reconnect: users whose socket closes connect again (echo, broadcast and chat kinds).
        extra_args: more Locust or ``--harness-*`` arguments, appended last.
        timeout_s: kill Locust after this many seconds (default: run time + 60 s).

    Raises:
        GeneratorError: Locust could not start, ran past the timeout, or wrote no result.
        ValueError: an argument is out of range.
    """
    if users < 1 or spawn_rate <= 0 or duration_s <= 0 or rate_per_user <= 0 or processes < 0:
        raise ValueError(
            "need users >= 1, spawn_rate > 0, duration_s > 0, rate_per_user > 0 and processes >= 0, got "
            f"users={users}, spawn_rate={spawn_rate}, duration_s={duration_s}, "
            f"rate_per_user={rate_per_user}, processes={processes}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result_path = out / GENERATOR_FILE
    csv_prefix = out / "locust"
    log_path = out / "locust.log"
    result_path.unlink(missing_ok=True)
    (out / LIVE_FILE).unlink(missing_ok=True)
    check_warmup_from(kind, warmup_from)
    if reconnect and kind not in RECONNECT_KINDS:
        raise ValueError(f"reconnect is for kinds {', '.join(RECONNECT_KINDS)}, not {kind}")
    if not settle_quiet_s > 0 or not settle_timeout_s > 0:
        raise ValueError(
            f"need settle_quiet_s > 0 and settle_timeout_s > 0, got {settle_quiet_s!r} and {settle_timeout_s!r}"
        )
    spawn_s = users / spawn_rate
    if warmup_from == "start" and warmup_s < spawn_s:
        raise ValueError(
            f"warmup_from start needs a warm-up that covers the spawning: {warmup_s:g} s < {users} users at "
            f"{spawn_rate:g}/s = {spawn_s:g} s"
        )
    # Settling takes what it takes, up to its time-out: the generator ends a settled run itself, sooner.
    settle_s = settle_timeout_s + _SETTLE_MARGIN_S if warmup_from == "settle" else 0.0
    run_time = math.ceil((0.0 if warmup_from == "start" else spawn_s) + settle_s + warmup_s + duration_s + grace_s)
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "-t",
        f"{run_time}s",
        "--csv",
        str(csv_prefix),
        "--harness-target",
        target,
        "--harness-kind",
        kind,
        "--harness-rate",
        str(rate_per_user),
        "--harness-arrival",
        arrival,
        "--harness-run-id",
        run_id or uuid.uuid4().hex[:12],
        "--harness-send-seconds",
        str(duration_s),
        "--harness-warmup",
        str(warmup_s),
        "--harness-warmup-from",
        warmup_from,
        "--harness-settle-quiet",
        str(settle_quiet_s),
        "--harness-settle-timeout",
        str(settle_timeout_s),
        "--harness-grace",
        str(grace_s),
        "--harness-room-size",
        str(room_size),
        "--harness-payload-bytes",
        str(payload_bytes),
        "--harness-max-inflight",
        str(max_inflight),
        "--harness-out",
        str(result_path),
        "--harness-live",
        str(out / LIVE_FILE),
    ]
    if reconnect:
        argv.append("--harness-reconnect")
    if credentials is not None:
        argv += ["--harness-credentials", str(credentials)]
    if processes:
        argv += ["--processes", str(processes)]
    argv += list(extra_args)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra_env or {})
    proc = ManagedProcess("locust", argv, log_path, env=env, cwd=_ROOT)
    limit = timeout_s if timeout_s is not None else run_time + _SLACK_S
    log_path.unlink(missing_ok=True)
    proc.start()
    try:
        assert proc.popen is not None
        try:
            returncode = proc.popen.wait(limit)
        except subprocess.TimeoutExpired:
            raise GeneratorError(
                f"locust ({kind} against {target}) still running after {limit:.0f} s; killed it. "
                f"Log {log_path}:\n{proc.tail()}"
            ) from None
    finally:
        proc.stop()
    if not result_path.exists():
        raise GeneratorError(
            f"locust exited with code {returncode} without writing {result_path} "
            f"({kind} against {target}). Log {log_path}:\n{proc.tail()}"
        )
    try:
        result = orjson.loads(result_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise GeneratorError(f"{result_path} is not valid JSON: {exc}") from exc
    return GeneratorResult(
        result=result,
        result_path=result_path,
        csv_prefix=csv_prefix,
        log_path=log_path,
        returncode=returncode,
        command=tuple(argv),
        run_time_s=run_time,
    )
