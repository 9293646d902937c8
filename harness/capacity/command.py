"""``harness capacity``: its arguments, and one search on the reference app or a ``--target``."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.scenario.overrides import add_override_options

__all__ = ["EXIT_FAILS_AT_MINIMUM", "EXIT_UNCONFIRMED", "PLAN_STACK", "add_parser", "run_command"]

#: Exit codes beyond 0 (an answer: found, or holds at the maximum), 1 (the search itself failed) and 2 (usage).
EXIT_FAILS_AT_MINIMUM = 3
EXIT_UNCONFIRMED = 4


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "capacity",
        help="find the largest load a deployment holds at its SLOs (rate, connections or group size)",
        description="Grow one load dimension exponentially until a trial fails, bisect until the bracket "
        "[last pass, first fail] is within the precision, and confirm the last pass with a longer trial. A trial "
        "passes when every SLO holds, the generator kept the offered send rate (>= 99 %%) and was not saturated, "
        "and no connection failed; a load passes when most of its trials do. Writes capacity.json. Exit 0 with an "
        "answer, 3 when even the smallest load fails, 4 when the answer could not be confirmed, 1 when the search "
        "failed, 2 usage. See docs/capacity.md.",
    )
    p.add_argument(
        "--plan",
        help="A bundled plan instead of --scenario/--dimension: several searches that answer one question. "
        "'terminals': how many EKS readers (shift change through emulator, gateway, worker and kiosk) and how many "
        "kiosk/chat sockets the stack holds; default objectives p99<250ms and loss<=0, default stack uvicorn, redis, "
        "1 worker (docs/capacity.md).",
    )
    p.add_argument("--scenario", help="Scenario name from scenarios/ or a path to a .toml file.")
    p.add_argument(
        "--dimension",
        help="The load to grow: rate (messages sent per second), connections (sockets held open), group_size "
        "(members of one room or group) or readers (EKS readers of a timeclock scenario); which apply depends on the "
        "scenario's kind (docs/capacity.md).",
    )
    p.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="OBJECTIVE",
        help="An objective every passing trial meets (repeatable), e.g. 'p99<250ms', 'fanout.p99<100ms', "
        "'loss<=0', 'throughput>=450/s'. Default: the scenario's [[slos]].",
    )
    p.add_argument("--server", help="Server of the stack the harness starts (default: the scenario's first).")
    p.add_argument("--layer", help="Channel layer of that stack (default: the scenario's first).")
    p.add_argument(
        "--workers",
        help="Server processes of that stack (default: the scenario's first), or several counts such as 1,2,3,4,5,6: "
        "one search each, and the Universal Scalability Law fitted over them (at least 6 counts).",
    )
    p.add_argument("--target", metavar="URL", help="ws:// URL of a deployment the harness did not start (no stack).")
    p.add_argument("--credentials", type=Path, help="Credentials JSON for reference-app kinds with --target.")
    p.add_argument("--start", type=float, help="The first load tried (default: the scenario's own load).")
    p.add_argument("--min", type=float, dest="minimum", help="The smallest load tried (default: the dimension's).")
    p.add_argument(
        "--max",
        type=float,
        dest="maximum",
        help="The largest load tried (default: 200,000 msg/s, 20,000 connections, 5,000 members, 2,000 readers when "
        "the harness starts the stack; more against a --target).",
    )
    p.add_argument("--growth", type=float, default=2.0, help="Factor between growth steps (default: 2).")
    p.add_argument(
        "--precision",
        type=float,
        default=5.0,
        help="Stop bisecting when the bracket is within this per cent of its lower end (default: 5).",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=3,
        help="At most this many trials per load, an odd number; the majority decides and trials stop once it is "
        "reached (default: 3, so 2 when they agree).",
    )
    p.add_argument(
        "--trial-s",
        type=float,
        help="Seconds each trial sends (default: 5; 15 for readers, whose readers badge about once a second or less).",
    )
    p.add_argument(
        "--confirm-factor",
        type=float,
        default=3.0,
        help="The confirmation trial sends this many times longer (default: 3).",
    )
    p.add_argument(
        "--confirmations",
        type=int,
        default=2,
        help="Confirmation trials that may fail (each reopens the search below) before it ends unconfirmed "
        "(default: 2).",
    )
    p.add_argument(
        "--spawn-rate",
        type=float,
        help="Connections opened per second during every trial's warm-up. Default: the scenario's spawn rate, "
        "doubled for the next trial (up to 4 times) while the server answers the handshakes as they come "
        "(connect p99 <= 100 ms), and back to the scenario's for good if connects fail above it.",
    )
    p.add_argument(
        "--settle-s",
        type=float,
        default=5.0,
        help="With --target, seconds to wait after a failed trial for the target to drain (default: 5); a stack "
        "the harness started is restarted before every trial instead.",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        help="Locust worker processes (0: one local runner; N: master + N). Default: 0, and a plan part's own "
        "(the terminals plan's sockets part runs 2: one process fell behind its schedule before the servers did).",
    )
    p.add_argument("--out", type=Path, help="Output directory (default: reports/<timestamp>-capacity-<scenario>/).")
    add_override_options(p, shorthands=False)


def _usage(message: str) -> int:
    print(f"harness capacity: error: {message}", file=sys.stderr)
    return 2


#: The stack a plan runs on when --server, --layer or --workers are not given.
PLAN_STACK: Final = ("uvicorn", "redis", "1")

#: The default ceiling of each dimension when the harness provisions the stack (its demo data is sized for it).
_STACK_MAXIMUM = {"rate": 200_000.0, "connections": 20_000.0, "group_size": 5_000.0, "readers": 2_000.0}


def _check_numbers(args: argparse.Namespace) -> str | None:
    for flag, value, low, form in (
        ("--start", args.start, 0.0, "a number above 0"),
        ("--min", args.minimum, 0.0, "a number above 0"),
        ("--max", args.maximum, 0.0, "a number above 0"),
        ("--trial-s", args.trial_s, 1.0, "at least 1 (second)"),
        ("--spawn-rate", args.spawn_rate, 0.0, "a number above 0"),
        ("--settle-s", args.settle_s, 0.0, "0 or more (seconds)"),
    ):
        inclusive = flag in ("--trial-s", "--settle-s")
        if value is not None and not (math.isfinite(value) and (value >= low if inclusive else value > low)):
            return f"{flag} {value:g}: expected {form}"
    if args.growth <= 1 or not math.isfinite(args.growth):
        return f"--growth {args.growth:g}: expected a factor above 1"
    if not 0 < args.precision < 100:
        return f"--precision {args.precision:g}: expected a per cent in (0, 100)"
    if args.trials < 1 or args.trials % 2 == 0:
        return f"--trials {args.trials}: expected an odd number >= 1 (a majority decides)"
    if args.confirm_factor < 1:
        return f"--confirm-factor {args.confirm_factor:g}: expected >= 1"
    if args.confirmations < 1:
        return f"--confirmations {args.confirmations}: expected >= 1"
    if args.processes is not None and args.processes < 0:
        return "--processes must be >= 0"
    return None


@dataclass(frozen=True)
class _Job:
    """One search to run, checked: the scenario at the search's shape, its dimension, plan, objectives and cells."""

    scenario: Any
    dimension: Any
    plan: Any
    slos: tuple[Any, ...]
    cells: list[Any]
    trial_s: float
    processes: int


def run_command(args: argparse.Namespace) -> int:
    problem = _check_numbers(args)
    if problem:
        return _usage(problem)
    if args.plan is not None:
        return _run_plan(args)
    missing = [flag for flag, value in (("--scenario", args.scenario), ("--dimension", args.dimension)) if not value]
    if missing:
        return _usage(f"{' and '.join(missing)} required (or --plan NAME for a bundled plan)")
    job = _prepare(args, args.scenario, args.dimension, tuple(args.slo))
    if isinstance(job, str):
        return _usage(job)
    return _searches(args, [(job, None)])


def _run_plan(args: argparse.Namespace) -> int:
    from harness.capacity.plans import plan_named

    given = [
        flag
        for flag, value in (
            ("--scenario", args.scenario),
            ("--dimension", args.dimension),
            ("--target", args.target),
            ("--set", args.override_set or None),
            ("--credentials", args.credentials),
            ("--start", args.start),
            ("--min", args.minimum),
            ("--max", args.maximum),
        )
        if value is not None
    ]
    if given:
        return _usage(
            f"{', '.join(given)} not with --plan: a plan names its own scenarios and dimensions, and its readers "
            "part starts the stack itself"
        )
    try:
        plan = plan_named(args.plan)
        if args.workers is not None and len(_worker_counts(args.workers)) > 1:
            return _usage(f"--workers {args.workers}: a plan runs on one stack; give one worker count")
    except ValueError as exc:
        return _usage(str(exc))
    slo_texts = tuple(args.slo) or plan.default_slos
    # Every part runs on the same kind of stack; a timeclock needs a layer shared between processes.
    args = argparse.Namespace(
        **{
            **vars(args),
            "server": args.server or PLAN_STACK[0],
            "layer": args.layer or PLAN_STACK[1],
            "workers": args.workers or PLAN_STACK[2],
        }
    )
    jobs = []
    for part in plan.parts:
        job = _prepare(args, part.scenario, part.dimension, slo_texts, processes=part.processes)
        if isinstance(job, str):
            return _usage(f"plan {plan.name}, part {part.name}: {job}")
        jobs.append((job, part))
    return _searches(args, jobs, plan=plan)


def _prepare(
    args: argparse.Namespace,
    scenario_ref: str,
    dimension_name: str,
    slo_texts: tuple[str, ...],
    *,
    processes: int = 0,
) -> _Job | str:
    """The checked search of ``dimension_name`` in ``scenario_ref``, or what is wrong with it (a usage error);
    ``processes``: the Locust worker processes when ``--processes`` is not given."""
    from harness.capacity.dimensions import dimension_for
    from harness.capacity.search import SearchPlan
    from harness.run.plan import Cell
    from harness.scenario import LatencySlo, ScenarioError, load_any
    from harness.scenario.overrides import overrides_of
    from harness.scenario.slo_text import SloTextError, parse_slo_text

    try:
        scenario = load_any(scenario_ref, overrides_of(args))
        dimension = dimension_for(dimension_name, scenario)
        slos = tuple(parse_slo_text(text) for text in slo_texts) or scenario.slos
    except (ScenarioError, SloTextError, ValueError) as exc:
        return str(exc)
    trial_s = args.trial_s if args.trial_s is not None else dimension.trial_s
    if not any(isinstance(s, LatencySlo) for s in slos):
        return (
            f"no latency objective: scenario {scenario.name!r} has none and no --slo gave one "
            "(e.g. --slo 'p99<250ms'); "
            "a capacity without a latency bound is only the point where messages start to be lost"
        )
    if scenario.load.shape != "constant":
        scenario = dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, shape="constant", stages=()))
    if args.spawn_rate is not None:
        scenario = dataclasses.replace(scenario, load=dataclasses.replace(scenario.load, spawn_rate=args.spawn_rate))
    stack_flags = [f"--{f}" for f in ("server", "layer", "workers") if getattr(args, f) is not None]
    if args.target is not None and stack_flags:
        return f"{', '.join(stack_flags)} describe the stack the harness starts; not with --target"
    if args.target is not None and scenario.timeclock is not None:
        return (
            f"scenario {scenario.name!r} is of kind timeclock: its trials start the EKS emulator, the gateway and a "
            "stack of their own, so it cannot run against a --target"
        )
    if args.target is None and scenario.generic:
        return f"scenario {scenario.name!r} is generic (any {scenario.kind} server): give the server with --target ws://..."
    if args.credentials is not None and args.target is None:
        return "--credentials goes with --target (a stack the harness starts writes its own)"
    default_max = _STACK_MAXIMUM[dimension.name] if args.target is None else dimension.maximum
    minimum = args.minimum if args.minimum is not None else dimension.minimum_of(scenario)
    maximum = args.maximum if args.maximum is not None else default_max
    start = args.start if args.start is not None else dimension.value_of(scenario)
    if dimension.integer:
        minimum, maximum, start = float(math.ceil(minimum)), float(math.floor(maximum)), float(round(start))
    floor = dimension.minimum_of(scenario)
    if minimum < floor:
        return f"--min {minimum:g}: {dimension.name} cannot go below {dimension.format(floor)} for this scenario"
    if not minimum <= maximum:
        return f"the smallest load {dimension.format(minimum)} is above the largest {dimension.format(maximum)}"
    if args.start is not None and not minimum <= start <= maximum:
        return (
            f"--start {args.start:g} is outside [{dimension.format(minimum)}, {dimension.format(maximum)}] "
            "(--min, --max or the dimension's defaults)"
        )
    start = min(max(start, minimum), maximum)
    try:
        plan = SearchPlan(
            start=start,
            minimum=minimum,
            maximum=maximum,
            growth=args.growth,
            precision=args.precision / 100,
            integer=dimension.integer,
            trials=args.trials,
            confirmations=args.confirmations,
        )
    except ValueError as exc:
        return f"search plan: {exc}"
    if args.target is not None:
        cells = [Cell("external", "external", 1)]
    else:
        m = scenario.matrix
        try:
            counts = _worker_counts(args.workers) if args.workers is not None else [m.workers[0]]
        except ValueError as exc:
            return str(exc)
        cells = [Cell(args.server or m.servers[0], args.layer or m.layers[0], n) for n in counts]
        from harness.capacity.runner import scenario_at
        from harness.run.plan import stack_config
        from harness.stack import StackError

        largest = scenario_at(scenario, dimension, plan.maximum, duration_s=trial_s)
        try:
            for cell in cells:
                stack_config(largest, cell).check()
        except StackError as exc:
            return str(exc)
    generators = processes if args.processes is None else args.processes
    return _Job(scenario, dimension, plan, slos, cells, trial_s, generators)


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--workers {text!r}: expected a count or counts separated by commas, like 1,2,4") from None
    if any(n < 1 for n in counts) or len(set(counts)) != len(counts):
        raise ValueError(f"--workers {text!r}: expected distinct counts of 1 or more")
    return counts


def _searches(args: argparse.Namespace, jobs: list[tuple[_Job, Any]], *, plan: Any = None) -> int:
    """Run every job's searches (one per cell; a plan's parts one after the other), then write and print."""
    from harness.capacity.document import CAPACITY_FILE, build_capacity_document
    from harness.capacity.plans import plan_answer
    from harness.capacity.scaling import scaling_document
    from harness.capacity.search import Outcome
    from harness.measure.fingerprint import collect_fingerprint
    from harness.report.capacity_html import render_capacity_report
    from harness.report.capacity_text import plan_table, scaling_table, step_table
    from harness.results.document import default_out_dir
    from harness.stack.layers import layer_settings, layer_spec
    from harness.stack.redis import find_redis_server

    first = jobs[0][0]
    out = args.out or default_out_dir(f"capacity-{plan.name if plan else first.scenario.name}")
    notes: list[str] = []
    if args.target is not None:
        notes.append(
            "the target was not started by the harness: it was not restarted between trials (after a failed "
            f"trial the search waited {args.settle_s:g} s), and its CPU and memory are not reported"
        )
    searches = []
    for job, part in jobs:
        for cell in job.cells:
            directory = out if len(job.cells) == 1 else out / f"workers-{cell.workers}"
            if part is not None:
                directory = out / part.name
                print(f"[capacity] plan {plan.name}, part {part.name}: {part.what}", file=sys.stderr, flush=True)
            search = _search(args, job, cell, directory)
            if isinstance(search, int):
                return search
            searches.append(search)
            print(search["sentence"], file=sys.stderr, flush=True)
    scaling = scaling_document(searches, seed=first.scenario.seed) if len(first.cells) > 1 else None
    redis_bin = None
    if args.target is None and layer_spec(first.cells[0].layer).needs_redis:
        redis_bin = find_redis_server().path
    doc = build_capacity_document(
        searches=searches,
        scaling=scaling,
        fingerprint=collect_fingerprint(
            redis_server_bin=redis_bin,
            seed=first.scenario.seed,
            argv=list(sys.argv),
            layer_settings={} if args.target is not None else {c.layer: layer_settings(c.layer) for c in first.cells},
        ),
        plan=None if plan is None else plan.name,
        plan_answer=None if plan is None else plan_answer(plan, searches),
        notes=notes,
    )
    (out / CAPACITY_FILE).write_bytes(_json(doc))
    (out / "report.html").write_text(render_capacity_report(doc), encoding="utf-8")
    for search in doc["searches"]:
        print(step_table(search))
        print()
    for search in doc["searches"]:
        print(search["sentence"])
    if doc["scaling"] is not None:
        print()
        print(scaling_table(doc["scaling"]))
    if doc["plan_answer"] is not None:
        print()
        print(plan_table(doc["plan_answer"]))
        print()
        print(doc["plan_answer"]["sentence"])
    print(f"capacity: {out / CAPACITY_FILE}\nreport: {out / 'report.html'}")
    outcomes = {Outcome(search["outcome"]) for search in doc["searches"]}
    if Outcome.FAILS_AT_MINIMUM in outcomes:
        return EXIT_FAILS_AT_MINIMUM
    if Outcome.UNCONFIRMED in outcomes:
        return EXIT_UNCONFIRMED
    return 0


def _search(args: argparse.Namespace, job: _Job, cell: Any, out: Path) -> dict[str, Any] | int:
    """One search on ``cell`` (its own stack) or the target: its ``$defs/search`` document, or 1 when it failed."""
    scenario, dimension, plan, slos = job.scenario, job.dimension, job.plan, job.slos
    from harness.capacity.document import search_document
    from harness.capacity.runner import SearchAborted, Server, run_search, scenario_at
    from harness.load.generator import GeneratorError
    from harness.run.cell import stack_roots
    from harness.run.plan import stack_config
    from harness.stack import Stack, StackError
    from harness.stack.processes import ProcessError
    from harness.stack.redis import RedisNotFound

    stack = None
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.target is not None:
            server = Server(args.target, args.credentials, {})
            where = args.target
        elif scenario.timeclock is not None:
            server = Server("", None, {}, stack_per_trial=True)
            where = cell.label
        else:
            # Demo data for the largest load the search may try, so every trial finds its users and rooms.
            config = stack_config(scenario_at(scenario, dimension, plan.maximum, duration_s=job.trial_s), cell)
            print(
                f"[capacity] starting {cell.label} (demo data: {config.users:,} users, {config.rooms:,} rooms)",
                file=sys.stderr,
                flush=True,
            )
            stack = Stack(config, out / "stack").start()

            def restart() -> dict[str, int]:
                assert stack is not None
                stack.restart_servers(flush_layer=True)
                return stack_roots(stack, cell)

            server = Server(stack.ws_url, stack.credentials_path, stack_roots(stack, cell), restart)
            where = cell.label
        run = run_search(
            scenario,
            dimension,
            plan,
            slos=slos,
            server=server,
            cell=cell,
            trial_s=job.trial_s,
            confirm_factor=args.confirm_factor,
            out_dir=out,
            processes=job.processes,
            settle_s=args.settle_s,
            adaptive_opening=args.spawn_rate is None,
            stream=sys.stderr,
        )
    except (SearchAborted, StackError, ProcessError, RedisNotFound, GeneratorError, OSError) as exc:
        print(f"harness capacity: the search could not go on: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            stack.stop()
    return search_document(
        run,
        scenario=scenario,
        slos=slos,
        where=where,
        cell=dataclasses.asdict(cell),
        target=args.target,
        trial_s=job.trial_s,
        confirm_factor=args.confirm_factor,
        settle_s=args.settle_s,
        restarted=args.target is None,
        generator_processes=job.processes,
    )


def _json(doc: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
