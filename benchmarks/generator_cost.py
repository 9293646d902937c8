"""Generator CPU versus server CPU per delivered message, and versus plain Locust users, side by side.

For each scenario (``chat``: 20 users in rooms of 5, 2 msg/s each; ``fan-out``: one room of 50 members,
5 msg/s in total) and each generator it starts a fresh reference-app stack (Uvicorn, in-memory layer). The
generators, each one local Locust process: ``ours`` (``harness/load/locustfile.py`` through ``run_generator``) and two
plain users from ``benchmarks/plain_locust/locustfile.py``: ``plain`` (sends, then waits for its own reply and
reads the others' messages only then) and ``plain-loop`` (a receive loop per connection, one request event per
message, as locust-plugins' template). It measures, from outside and the same way for every generator:

* the CPU time (user + system, psutil) of the server process tree and of the Locust process tree, sampled on
  every wall-clock second boundary;
* the messages the generator received (``message`` frames, the sender's own copy included) per wall-clock second.

The measured window is the whole seconds of steady load: every user connected and sending, start-up, spawning,
the first and last partial seconds and the grace period left out. Per delivered message in that window:
server CPU µs, generator CPU µs, their ratio, and each plain user's over ours. Runs go ours, plain, plain-loop,
then the reverse order on the next repetition, so a drift in the machine's other load hits every side alike.

    PYTHONPATH=. python benchmarks/generator_cost.py [--repeat 2] [--send-seconds 12] [--scenario chat]
        [--baseline plain]

Goals (load-harness issue §8): ours spends ≤ 0.25× the server's CPU per delivered message, and ≥ 2× fewer CPU µs
per delivered message than the plain user; checked against each plain user. ``docs/performance.md`` records runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Final

import psutil

from harness.load.generator import LOCUSTFILE, run_generator
from harness.stack import Stack, StackConfig
from harness.stack.processes import ManagedProcess

__all__ = ["SCENARIOS", "Measurement", "Scenario", "main"]

PLAIN_LOCUSTFILE: Final = Path(__file__).resolve().parent / "plain_locust" / "locustfile.py"
#: Both generators start all users within this many seconds.
SPAWN_S: Final = 1.0
#: Seconds Locust may take beyond the planned run time (start-up, stop) before it is killed.
SLACK_S: Final = 60.0
GOAL_VS_SERVER: Final = 0.25
GOAL_VS_PLAIN: Final = 2.0
#: A side whose window holds fewer sends or deliveries than this share of the scheduled ones is flagged.
SHORTFALL: Final = 0.9
#: Other processes on the machine using more than this many cores during a window are flagged.
OTHER_LOAD_CORES: Final = 0.25
#: Two tick-counted readings can each be up to 10 ms off (per process, 100 Hz ticks).
TICK_TOLERANCE_S: Final = 0.04
#: A sample taken later than this after its second boundary is flagged (the window would be mis-timed).
SAMPLE_LATE_S: Final = 0.05


@dataclass(frozen=True)
class Scenario:
    name: str
    users: int
    room_size: int
    rate_per_user: float
    #: The harness's arrival process. At 0.1 msg/s per user a constant rate would make a room of 50 users spawned
    #: within a second send in one burst every 10 s; Poisson spreads them (the plain user takes a random phase).
    arrival: str

    @property
    def rooms(self) -> int:
        return math.ceil(self.users / self.room_size)

    @property
    def deliveries_per_send(self) -> int:
        return self.room_size


SCENARIOS: Final = {
    "chat": Scenario("chat", users=20, room_size=5, rate_per_user=2.0, arrival="constant"),
    "fan-out": Scenario("fan-out", users=50, room_size=50, rate_per_user=0.1, arrival="poisson"),
}


@dataclass(frozen=True)
class Sample:
    """CPU seconds consumed so far, read just after a second boundary."""

    late_s: float
    server: float
    server_ticks: float
    #: (schedstat, clock ticks) of the generator tree; None before it started or after it ended.
    generator: tuple[float, float] | None
    machine_busy: float


class CpuSampler:
    """CPU seconds of the server tree, the generator tree and the whole machine, just after every second boundary.

    ``generator`` is looked up on every tick until found, since ``run_generator`` starts Locust itself.
    """

    def __init__(self, server_pids: Iterable[int], generator: Callable[[], int | None]) -> None:
        self.server_pids = list(server_pids)
        self.find_generator = generator
        self.generator_pid: int | None = None
        self.samples: dict[int, Sample] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def start(self) -> CpuSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            now = time.time()
            boundary = math.floor(now) + 1
            if self._stop.wait(boundary - now + 0.001):
                return
            if self.generator_pid is None:
                self.generator_pid = self.find_generator()
            servers = [cpu for pid in self.server_pids if (cpu := _tree_cpu(pid)) is not None]
            generator = _tree_cpu(self.generator_pid) if self.generator_pid is not None else None
            machine = psutil.cpu_times()
            busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq + machine.steal
            self.samples[boundary] = Sample(
                late_s=time.time() - boundary,
                server=sum(cpu[0] for cpu in servers),
                server_ticks=sum(cpu[1] for cpu in servers),
                generator=generator,
                machine_busy=busy,
            )


def _tree_cpu(pid: int) -> tuple[float, float] | None:
    """CPU seconds of a process and its descendants: (schedstat, clock ticks); None if the process is gone."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    return sum(_process_cpu(proc) for proc in family), sum(_process_ticks(proc) for proc in family)


def _process_cpu(proc: psutil.Process) -> float:
    # Linux's per-thread schedstat counts nanoseconds; psutil's cpu_times() counts 10 ms clock ticks, which is
    # several per cent of the ~0.1 s a generator spends in a short window. A thread that exits mid-window takes
    # its time with it; both generators and the server keep their threads for the whole run.
    try:
        tasks = os.listdir(f"/proc/{proc.pid}/task")
        total_ns = 0
        for tid in tasks:
            with open(f"/proc/{proc.pid}/task/{tid}/schedstat") as f:
                total_ns += int(f.read().split()[0])
        return total_ns / 1e9
    except (OSError, ValueError, IndexError):
        return _process_ticks(proc)


def _process_ticks(proc: psutil.Process) -> float:
    """User + system CPU seconds from the kernel's per-process totals (exited threads included)."""
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _find_locust(locustfile: Path) -> Callable[[], int | None]:
    def find() -> int | None:
        for proc in psutil.Process().children(recursive=True):
            try:
                cmdline = proc.cmdline()
            except psutil.Error:
                continue
            if "locust" in cmdline and str(locustfile) in cmdline:
                return proc.pid
        return None

    return find


@dataclass
class Measurement:
    scenario: str
    repetition: int
    generator: str
    window_s: int = 0
    sends: int = 0
    delivered: int = 0
    expected: int = 0
    server_cpu_s: float = 0.0
    generator_cpu_s: float = 0.0
    other_cpu_s: float = 0.0
    flags: list[str] = field(default_factory=list)
    out_dir: str = ""

    @property
    def valid(self) -> bool:
        return self.delivered > 0 and self.window_s > 0

    @property
    def server_us(self) -> float:
        return self.server_cpu_s * 1e6 / self.delivered

    @property
    def generator_us(self) -> float:
        return self.generator_cpu_s * 1e6 / self.delivered

    @property
    def generator_vs_server(self) -> float:
        return self.generator_cpu_s / self.server_cpu_s


def _measure_window(
    m: Measurement,
    sampler: CpuSampler,
    series: dict[int, tuple[int, int]],
    start: int,
    end: int,
    scenario: Scenario,
) -> None:
    """Fill ``m`` from the whole seconds ``[start, end)``: deliveries from ``series``, CPU from the samples."""
    if end - start < 3:
        m.flags.append(f"steady window too short ({end - start} s from {start} to {end})")
        return
    first, last = sampler.samples.get(start), sampler.samples.get(end)
    if first is None or first.generator is None:
        m.flags.append(f"no CPU sample at the window's start ({start})")
        return
    if last is None or last.generator is None:
        m.flags.append(f"no CPU sample at the window's end ({end})")
        return
    late = max(first.late_s, last.late_s)
    if late > SAMPLE_LATE_S:
        m.flags.append(f"a boundary sample was taken {late * 1000:.0f} ms late")
    m.window_s = end - start
    m.sends = sum(series.get(s, (0, 0))[0] for s in range(start, end))
    m.delivered = sum(series.get(s, (0, 0))[1] for s in range(start, end))
    m.server_cpu_s = last.server - first.server
    m.generator_cpu_s = last.generator[0] - first.generator[0]
    m.other_cpu_s = (last.machine_busy - first.machine_busy) - m.server_cpu_s - m.generator_cpu_s
    # The tick counts keep the time of threads that exited; a gap means schedstat missed some.
    for side, precise, ticks in (
        ("server", m.server_cpu_s, last.server_ticks - first.server_ticks),
        ("generator", m.generator_cpu_s, last.generator[1] - first.generator[1]),
    ):
        if abs(precise - ticks) > TICK_TOLERANCE_S + 0.05 * ticks:
            m.flags.append(f"{side} CPU {precise:.3f} s by schedstat, {ticks:.2f} s by clock ticks")
    scheduled = scenario.users * scenario.rate_per_user * m.window_s
    m.expected = round(scheduled * scenario.deliveries_per_send)
    if m.sends < SHORTFALL * scheduled:
        m.flags.append(f"sent {m.sends} in the window, {scheduled:.0f} scheduled")
    if m.delivered < SHORTFALL * m.expected:
        m.flags.append(f"delivered {m.delivered}, {m.expected} expected at the scheduled rate")
    if m.other_cpu_s > OTHER_LOAD_CORES * m.window_s:
        m.flags.append(f"other processes used {m.other_cpu_s / m.window_s:.2f} cores during the window")


def run_ours(scenario: Scenario, repetition: int, out: Path, send_s: float) -> Measurement:
    m = Measurement(scenario.name, repetition, "ours", out_dir=str(out))
    config = StackConfig(server="uvicorn", layer="inmemory", users=scenario.users, rooms=scenario.rooms)
    with Stack(config, out / "stack") as stack:
        sampler = CpuSampler(stack.server_pids, _find_locust(LOCUSTFILE)).start()
        try:
            run = run_generator(
                stack.ws_url,
                "chat",
                users=scenario.users,
                spawn_rate=scenario.users / SPAWN_S,
                duration_s=send_s,
                rate_per_user=scenario.rate_per_user,
                arrival=scenario.arrival,
                processes=0,
                credentials=stack.credentials_path,
                out_dir=out / "generator",
                # Every member must have joined before anyone sends, or the ledger expects messages sent before
                # the join (docs/generator.md).
                warmup_s=SPAWN_S + 1.0,
                grace_s=2.0,
                room_size=scenario.room_size,
            )
        finally:
            sampler.stop()
    result = run.result
    series = {int(row["epoch_s"]): (int(row["sent"]), int(row["received"])) for row in result["time_series"]}
    sending = [s for s, (sends, _) in series.items() if sends]
    if not sending:
        m.flags.append("no sends at all")
        return m
    # The first and the last second with sends are partial.
    _measure_window(m, sampler, series, min(sending) + 1, max(sending), scenario)
    delivery = result["delivery"]
    for key in ("lost", "duplicated", "outside_expected"):
        if delivery.get(key):
            m.flags.append(f"{key} {delivery[key]} (whole run)")
    if run.generator_bound:
        m.flags.append("generator_bound: " + "; ".join(result["generator_health"]["generator_bound_reasons"]))
    if result.get("connect_failures") and any(result["connect_failures"].values()):
        m.flags.append(f"connect failures {result['connect_failures']}")
    if result.get("unexpected_closes"):
        m.flags.append(f"unexpected closes {result['unexpected_closes']}")
    if run.returncode != 0:
        m.flags.append(f"locust exit code {run.returncode}")
    return m


def run_plain(scenario: Scenario, repetition: int, out: Path, send_s: float) -> Measurement:
    return _run_plain_user("plain", "PlainChatUser", scenario, repetition, out, send_s)


def run_plain_loop(scenario: Scenario, repetition: int, out: Path, send_s: float) -> Measurement:
    return _run_plain_user("plain-loop", "ReceiveLoopChatUser", scenario, repetition, out, send_s)


def _run_plain_user(
    generator: str, user_class: str, scenario: Scenario, repetition: int, out: Path, send_s: float
) -> Measurement:
    m = Measurement(scenario.name, repetition, generator, out_dir=str(out))
    config = StackConfig(server="uvicorn", layer="inmemory", users=scenario.users, rooms=scenario.rooms)
    counters_path = out / "plain.json"
    # Each user's first send comes at a random phase within one send interval of its connect, and a
    # PlainChatUser reads what other members sent only when it sends itself, so sending (and what that user
    # reads) is steady only one send interval after the last connect; the window starts there and runs to the
    # stop: about send_s - 1 whole seconds, as ours.
    interval = 1 / scenario.rate_per_user
    run_time = math.ceil(SPAWN_S + interval + send_s)
    with Stack(config, out / "stack") as stack:
        env = {
            **os.environ,
            "PLAIN_LOCUST_TARGET": stack.ws_url,
            "PLAIN_LOCUST_ORIGIN": stack.http_url,
            "PLAIN_LOCUST_CREDENTIALS": str(stack.credentials_path),
            "PLAIN_LOCUST_ROOM_SIZE": str(scenario.room_size),
            "PLAIN_LOCUST_RATE": str(scenario.rate_per_user),
            "PLAIN_LOCUST_OUT": str(counters_path),
        }
        argv = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(PLAIN_LOCUSTFILE),
            "--headless",
            "--only-summary",
            "-u",
            str(scenario.users),
            "-r",
            str(scenario.users / SPAWN_S),
            "-t",
            f"{run_time}s",
            "--csv",
            str(out / "locust"),
            user_class,
        ]
        proc = ManagedProcess("plain-locust", argv, out / "locust.log", env=env).start()
        sampler = CpuSampler(stack.server_pids, lambda: proc.pid).start()
        try:
            assert proc.popen is not None
            returncode = proc.popen.wait(run_time + SLACK_S)
        finally:
            sampler.stop()
            proc.stop()
    if not counters_path.exists():
        m.flags.append(f"plain Locust wrote no counters (exit {returncode}); log {out / 'locust.log'}")
        return m
    counters = json.loads(counters_path.read_text())
    series = {int(row["epoch_s"]): (int(row["sends"]), int(row["received"])) for row in counters["series"]}
    start = int(counters["last_connect_epoch"] + interval) + 1
    _measure_window(m, sampler, series, start, int(counters["stop_epoch"]), scenario)
    if counters["connected"] < scenario.users:
        m.flags.append(f"only {counters['connected']} of {scenario.users} users connected")
    if counters["failures"]:
        m.flags.append(f"{counters['failures']} failed requests (whole run)")
    if returncode != 0:
        m.flags.append(f"locust exit code {returncode}")
    return m


RUNNERS: Final = {"ours": run_ours, "plain": run_plain, "plain-loop": run_plain_loop}
#: The plain users ours is compared with (benchmarks/plain_locust/locustfile.py).
BASELINES: Final = ("plain", "plain-loop")


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def table(rows: list[Measurement]) -> str:
    lines = [
        "| scenario | rep | generator | window s | sends | delivered (expected) | server CPU s | generator CPU s "
        "| other CPU s | server µs/msg | generator µs/msg | generator/server | flags |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in rows:
        flags = "; ".join(m.flags) or "none"
        if not m.valid:
            dashes = " | ".join("–" * 9)
            lines.append(f"| {m.scenario} | {m.repetition} | {m.generator} | {dashes} | {flags} |")
            continue
        lines.append(
            f"| {m.scenario} | {m.repetition} | {m.generator} | {m.window_s} | {m.sends:,} "
            f"| {m.delivered:,} ({m.expected:,}) | {_fmt(m.server_cpu_s, 2)} | {_fmt(m.generator_cpu_s, 2)} "
            f"| {_fmt(m.other_cpu_s, 2)} | {_fmt(m.server_us)} | {_fmt(m.generator_us)} "
            f"| {_fmt(m.generator_vs_server, 3)} | {flags} |"
        )
    return "\n".join(lines)


def verdicts(rows: list[Measurement], scenarios: list[str], baselines: Iterable[str] = BASELINES) -> str:
    """The goal checks per scenario, on the median over repetitions of each repetition's own ratios."""
    lines = []
    for name in scenarios:
        ours = {m.repetition: m for m in rows if m.scenario == name and m.generator == "ours" and m.valid}
        lines.append(
            _verdict(
                f"{name}: ours generator/server CPU per delivered message",
                [ours[r].generator_vs_server for r in sorted(ours)],
                f"≤ {GOAL_VS_SERVER}",
                lambda median: median <= GOAL_VS_SERVER,
                digits=3,
                missing=f"{name}: ours generator/server: no valid measurement: NOT CHECKED",
            )
        )
        for baseline in baselines:
            plain = {m.repetition: m for m in rows if m.scenario == name and m.generator == baseline and m.valid}
            # A plain user and ours are compared only within a repetition, where they ran one after the other.
            lines.append(
                _verdict(
                    f"{name}: {baseline}/ours generator CPU µs per delivered message",
                    [plain[r].generator_us / ours[r].generator_us for r in sorted(set(ours) & set(plain))],
                    f"≥ {GOAL_VS_PLAIN}",
                    lambda median: median >= GOAL_VS_PLAIN,
                    digits=2,
                    missing=f"{name}: {baseline}/ours: no valid pair: NOT CHECKED",
                )
            )
    return "\n".join(lines)


def _verdict(
    what: str, values: list[float], goal: str, passes: Callable[[float], bool], *, digits: int, missing: str
) -> str:
    if not values:
        return missing
    median = statistics.median(values)
    each = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{what} = {median:.{digits}f} (median of {each}); goal {goal}: {'PASS' if passes(median) else 'FAIL'}"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ["locust", "gevent", "websocket-client", "uvicorn", "channels", "Django", "psutil"]
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}; {versions}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="repetitions of every (scenario, generator) pair")
    parser.add_argument("--send-seconds", type=float, default=12.0, help="seconds each side sends")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="default: all")
    parser.add_argument(
        "--baseline",
        action="append",
        choices=list(BASELINES),
        help="plain user(s) to compare with (default: both): plain waits for its own reply and drains the others' "
        "messages then; plain-loop reads every message as it arrives (benchmarks/plain_locust/locustfile.py)",
    )
    parser.add_argument("--out", type=Path, help="keeps every run's stack, Locust logs and results (default: temp)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.send_seconds < 5:
        parser.error("need --repeat >= 1 and --send-seconds >= 5 (the window drops 2 partial seconds)")
    names: list[str] = args.scenario or list(SCENARIOS)
    baselines: list[str] = args.baseline or list(BASELINES)
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="bench-generator-"))
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    rows: list[Measurement] = []
    for rep in range(1, args.repeat + 1):
        generators = ["ours", *baselines]
        order = generators if rep % 2 else generators[::-1]
        for name in names:
            for generator in order:
                run_dir = out / f"{name}-{generator}-{rep}"
                print(f"[{time.strftime('%H:%M:%S')}] {name} / {generator} / repetition {rep}", flush=True)
                rows.append(RUNNERS[generator](SCENARIOS[name], rep, run_dir, args.send_seconds))
    load_after = os.getloadavg()
    report = verdicts(rows, names, baselines)
    print()
    print(f"date: {started:%Y-%m-%d %H:%M} UTC; machine: {machine()}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    for name in names:
        s = SCENARIOS[name]
        print(
            f"{name}: {s.users} users, rooms of {s.room_size}, {s.rate_per_user:g} msg/s per user ({s.arrival}), "
            f"{args.send_seconds:g} s of sending; server uvicorn, in-memory layer, 1 process"
        )
    print()
    print(table(rows))
    print()
    print(report)
    (out / "summary.json").write_text(
        json.dumps([{**asdict(m), "valid": m.valid} for m in rows], indent=1, ensure_ascii=False)
    )
    print(f"\nruns kept in {out}")
    # A benchmark, not a test: missing goals is a result to report; only a run that measured nothing fails.
    return 0 if all(m.valid for m in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
