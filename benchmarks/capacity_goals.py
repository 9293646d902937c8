"""``nox -s capacity-goals``: the capacities docs/capacity.md reports, measured on this machine by ``harness capacity``.

Each part runs real searches on stacks the harness starts and prints one table; ``--out`` keeps every search's
``capacity.json`` and ``report.html``, and ``capacity-goals.md`` gathers the tables. Parts (``--part``, repeatable;
each takes minutes to an hour, so pick):

- ``terminals``: the terminals plan (EKS readers and kiosk/chat sockets) for every ``--servers`` × ``--layers`` ×
  ``--workers`` stack (default daphne, uvicorn × redis, redis-pubsub × 1, 2: 8 plans); ``--plan-parts readers``
  runs only that part's search on each stack (the same scenario, dimension and objectives as the plan's);
- ``sockets``: the most idle sockets (one message a minute each, rooms of 10) one server process holds on the
  in-memory layer, per server;
- ``rooms``: chat messages per second, and the deliveries per second they make, at the SLO for rooms of 10, 100
  and 1,000 members (uvicorn, in-memory);
- ``largest-room``: the largest chat room at the SLO with 10 messages a second into the room (uvicorn, in-memory);
- ``usl``: the chat rate capacity over ``--usl-workers`` (1–8) uvicorn workers on Redis, with the Universal
  Scalability Law fitted.

Every figure printed comes from a capacity.json the run wrote: nothing here is estimated. The servers and the
generator share this machine's cores; each row gives the generator's CPU at the load found.

    python benchmarks/capacity_goals.py --part sockets --out reports/capacity-goals
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from harness.capacity.plans import PLANS, figures_at_capacity
from harness.results.format import busiest_process, busiest_text

PARTS: Final = ("terminals", "sockets", "rooms", "largest-room", "usl")
ROOM_SIZES: Final = (10, 100, 1000)


def _capacity(argv: list[str], out: Path) -> tuple[dict[str, Any] | None, int, float]:
    """Run one ``harness capacity``; its document (None if it wrote none), exit code and wall seconds."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with (out / "capacity.log").open("w") as log:
        command = [sys.executable, "-m", "harness", "capacity", *argv, "--out", str(out)]
        print("$", " ".join(command[1:]), flush=True)
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.monotonic() - t0
    path = out / "capacity.json"
    return (json.loads(path.read_text()) if path.exists() else None), code, wall


def _n(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _scaled(value: float | None, by: float) -> float | None:
    return None if value is None else value / by


def _search_row(label: str, search: dict[str, Any], wall: float) -> str:
    """One search as a table row; the figures are those of the last passing trial at the load found."""
    f = figures_at_capacity(search) or {}
    bracket = search["bracket"]
    failed = ", ".join(c["name"] for c in search["first_fail_checks"]) or "–"
    return (
        f"| {label} | {search['outcome'].replace('_', ' ')} | {_n(bracket['last_pass'])} | "
        f"{_n(bracket['first_fail'])} {bracket['unit']} | {failed} | {_n(f.get('deliveries_per_s'))} | "
        f"{_n(_scaled(f.get('p99_us'), 1000), 1)} | {_n(f.get('server_cpu_percent'))} | {_n(f.get('server_fds'))} | "
        f"{_n(_scaled(f.get('server_rss_bytes'), 2**20))} | {_n(f.get('generator_cpu_total_percent'))} | "
        f"{busiest_text(busiest_process(f))} | {wall / 60:.1f} |"
    )


SEARCH_HEADER: Final = (
    "| search | outcome | holds | fails at | failed at first failure | deliveries/s | p99 ms | server CPU % | "
    "server fds | server MB | generator CPU % | busiest server process | wall min |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _rooms_scenario(size: int, directory: Path) -> Path:
    """A chat scenario with rooms of ``size``: at least 200 users, one message per member every 10 s to start."""
    users = max(200, size)
    path = directory / f"rooms-of-{size}.toml"
    path.write_text(
        f'name = "rooms-of-{size}"\n'
        f'description = "{users} users in rooms of {size}, each member sending 0.1 message/s to start."\n'
        'kind = "chat"\nduration_s = 5\nwarmup_s = 2\ngrace_s = 3\nseed = 31\n'
        '[matrix]\nservers = ["uvicorn"]\nlayers = ["inmemory"]\nworkers = [1]\n'
        f'[load]\nusers = {users}\nspawn_rate = 200\narrival = "poisson"\nrate = 0.1\npayload_bytes = 128\n'
        f"room_size = {size}\n"
        '[[slos]]\nmetric = "fanout"\nstatistic = "p99"\nlimit_ms = 250\n'
        '[[slos]]\nmetric = "response_time"\nstatistic = "p99"\nlimit_ms = 250\n'
        "[[slos]]\nmax_lost_ratio = 0\n"
    )
    return path


def _one_search(label: str, argv: list[str], out: Path) -> str:
    """One search as a table row, or a row that says it gave no answer and where its log is."""
    doc, code, wall = _capacity(argv, out)
    if doc is None:
        return f"| {label} | no answer (exit {code}; see {out / 'capacity.log'}) |"
    return _search_row(label, doc["searches"][0], wall)


def _stacks(args: argparse.Namespace) -> Iterator[tuple[str, list[str], str]]:
    """Each ``--servers`` × ``--layers`` × ``--workers`` stack: its label, its flags and its directory name."""
    for server in args.servers:
        for layer in args.layers:
            for workers in args.workers:
                label = f"{server}+{layer}, {workers} worker{'s' if workers > 1 else ''}"
                yield (
                    label,
                    ["--server", server, "--layer", layer, "--workers", str(workers)],
                    f"{server}-{layer}-{workers}",
                )


def _terminal_parts(args: argparse.Namespace, out: Path) -> Iterator[str]:
    """The terminals plan's chosen parts as plain searches, one row per stack and part."""
    plan = PLANS["terminals"]
    yield SEARCH_HEADER
    for label, flags, name in _stacks(args):
        for part in plan.parts:
            if part.name not in args.plan_parts:
                continue
            argv = ["--scenario", part.scenario, "--dimension", part.dimension, *flags]
            argv += [f"--slo={slo}" for slo in plan.default_slos]
            if part.processes:
                argv += ["--processes", str(part.processes)]
            yield _one_search(f"{label}: {part.name}", argv, out / name / part.name)


def _terminals(args: argparse.Namespace, out: Path) -> Iterator[str]:
    if set(args.plan_parts) != {part.name for part in PLANS["terminals"].parts}:
        yield from _terminal_parts(args, out)
        return
    yield (
        "| stack | readers | fails at | sockets | fails at | generator CPU % (readers / sockets) | "
        "busiest server process (readers / sockets) | wall min |"
    )
    yield "|---|---|---|---|---|---|---|---|"
    for label, flags, name in _stacks(args):
        doc, code, wall = _capacity(["--plan", "terminals", *flags], out / name)
        if doc is None or doc.get("plan_answer") is None:
            yield f"| {label} | the plan wrote no answer (exit {code}; see its capacity.log) | | | | | | |"
            continue
        parts = {row["part"]: row for row in doc["plan_answer"]["parts"]}
        r, s = parts["readers"], parts["sockets"]
        yield (
            f"| {label} | {_n(r['last_pass'])} | {_n(r['first_fail'])} ({', '.join(r['first_fail_checks'])}) | "
            f"{_n(s['last_pass'])} | {_n(s['first_fail'])} ({', '.join(s['first_fail_checks'])}) | "
            f"{_n(r['generator_cpu_percent'])} / {_n(s['generator_cpu_percent'])} | "
            f"{busiest_text(r.get('busiest_process'))} / {busiest_text(s.get('busiest_process'))} | "
            f"{wall / 60:.1f} |"
        )
        print(doc["plan_answer"]["sentence"], flush=True)


def _sockets(args: argparse.Namespace, out: Path) -> Iterator[str]:
    yield SEARCH_HEADER
    for server in args.servers:
        argv = ["--scenario", "idle-sockets", "--dimension", "connections", "--server", server]
        argv += ["--layer", "inmemory", "--workers", "1", "--start", str(args.sockets_start), "--processes", "2"]
        how = "idle sockets"
        if args.spawn_rate is not None:
            argv += ["--spawn-rate", f"{args.spawn_rate:g}"]
            how += f", opened at {args.spawn_rate:g}/s"
        yield _one_search(f"{server}+inmemory, {how}", argv, out / server)


def _rooms(args: argparse.Namespace, out: Path) -> Iterator[str]:
    yield SEARCH_HEADER
    for size in args.room_sizes:
        directory = out / f"rooms-of-{size}"
        directory.mkdir(parents=True, exist_ok=True)
        argv = ["--scenario", str(_rooms_scenario(size, directory)), "--dimension", "rate"]
        if size >= 1000:
            # The join storm of a 1,000-member room (N(N+1)/2 presence frames) takes minutes on this machine, and
            # every trial repeats it: start at the least rate (0.01 message/s per member), so that a failure ends
            # the search at its first load instead of halving down to it.
            argv += ["--start", f"{0.01 * max(200, size):g}"]
        yield _one_search(f"rooms of {size} (msg/s sent; deliveries/s)", argv, directory)


def _largest_room(args: argparse.Namespace, out: Path) -> Iterator[str]:
    yield SEARCH_HEADER
    argv = ["--scenario", "chat-rooms", "--dimension", "group_size", "--server", "uvicorn", "--layer", "inmemory"]
    yield _one_search("one chat room, 10 msg/s into it", [*argv, "--start", "100"], out)


def _usl(args: argparse.Namespace, out: Path) -> Iterator[str]:
    argv = ["--scenario", "chat-rooms", "--dimension", "rate", "--server", "uvicorn", "--layer", "redis"]
    doc, code, wall = _capacity([*argv, "--workers", ",".join(map(str, args.usl_workers))], out)
    if doc is None:
        yield f"no answer (exit {code}; see {out / 'capacity.log'})"
        return
    yield SEARCH_HEADER
    for search in doc["searches"]:
        yield _search_row(f"uvicorn+redis, {search['cell']['workers']} workers", search, search["wall_s"])
    scaling = doc["scaling"]
    for point in scaling["points"]:
        yield f"- N = {point['n']:g}: {_n(point['throughput'])} deliveries/s; {point['excluded'] or 'in the fit'}"
    fit = scaling["fit"]
    yield (
        f"- USL not fitted: {scaling['refused']}"
        if fit is None
        else f"- USL: λ {fit['lambda']:,.1f}/s, σ {fit['sigma']:.3g}, κ {fit['kappa']:.3g}, N* {fit['n_star']:.3g}"
    )
    yield f"- wall time {wall / 60:.1f} min"


RUNNERS: Final[dict[str, Callable[[argparse.Namespace, Path], Iterator[str]]]] = {
    "terminals": _terminals,
    "sockets": _sockets,
    "rooms": _rooms,
    "largest-room": _largest_room,
    "usl": _usl,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--part", action="append", choices=PARTS, required=True, help="What to measure (repeatable).")
    parser.add_argument("--out", type=Path, default=Path("reports/capacity-goals"), help="Output directory.")
    parser.add_argument(
        "--servers", type=lambda t: t.split(","), default=["daphne", "uvicorn"], help="Servers (terminals, sockets)."
    )
    parser.add_argument(
        "--layers", type=lambda t: t.split(","), default=["redis", "redis-pubsub"], help="Layers (terminals)."
    )
    parser.add_argument(
        "--workers", type=lambda t: [int(n) for n in t.split(",")], default=[1, 2], help="Worker counts (terminals)."
    )
    parser.add_argument(
        "--plan-parts",
        type=lambda t: t.split(","),
        default=[part.name for part in PLANS["terminals"].parts],
        help="The terminals plan's parts to run (default: readers,sockets, as the plan); a subset runs each as its "
        "own search.",
    )
    parser.add_argument(
        "--usl-workers",
        type=lambda t: [int(n) for n in t.split(",")],
        default=list(range(1, 9)),
        help="Worker counts of the usl part (default: 1-8; the fit needs 6 points after the excluded ones).",
    )
    parser.add_argument(
        "--spawn-rate",
        type=float,
        default=None,
        help="Sockets opened per second in every trial of the sockets part, fixed (default: harness capacity's own "
        "choice, from the idle-sockets scenario's 250/s, faster while the server keeps up, slower after connects "
        "fail; docs/capacity.md).",
    )
    parser.add_argument(
        "--room-sizes",
        type=lambda t: [int(n) for n in t.split(",")],
        default=list(ROOM_SIZES),
        help="Room sizes of the rooms part (default: 10,100,1000).",
    )
    parser.add_argument(
        "--sockets-start", type=int, default=2500, help="The first load of the sockets part (default: 2500)."
    )
    args = parser.parse_args(argv)
    known = {part.name for part in PLANS["terminals"].parts}
    if not args.plan_parts or not set(args.plan_parts) <= known:
        parser.error(f"--plan-parts {','.join(args.plan_parts)!r}: expected some of {', '.join(sorted(known))}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = args.out / "capacity-goals.md"
    for part in args.part:
        lines = [f"## {part}", ""]
        print(f"# {part}", flush=True)
        for line in RUNNERS[part](args, args.out / part):
            print(line, flush=True)
            lines.append(line)
        with report.open("a") as md:
            md.write("\n".join(lines) + "\n\n")
    print(f"written: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
