"""Command line: ``python -m eks_emulator --devices N ...`` runs a fleet until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .control import Controller
from .control_http import ControlServer
from .events import EventJournal
from .faults import Fault
from .fleet import Fleet, FleetConfig, FleetError, Shard
from .service_time import ServiceTime
from .workload import WorkloadEvent, WorkloadFileError, replay_csv, shift_change, steady

__all__ = ["ScheduledFault", "build_parser", "main", "parse_fault", "run"]

PROG = "eks-emulator"


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    fault: Fault
    fraction: float
    at_s: float


def parse_fault(text: str) -> ScheduledFault:
    """Parse ``kind=reboot,fraction=0.1,at=30,down_s=5``: a fault, the share of the fleet, and when."""
    fields: dict[str, object] = {}
    fraction, at_s = 1.0, 0.0
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"{item!r} is not name=value")
        if name in ("fraction", "at"):
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {value!r}") from None
            if name == "fraction":
                fraction = number
            else:
                at_s = number
            continue
        fields[name] = _json_scalar(value.strip())
    if not 0 <= fraction <= 1 or at_s < 0:
        raise ValueError("fraction must be 0-1 and at >= 0")
    return ScheduledFault(Fault.from_mapping(fields), fraction, at_s)


def _json_scalar(value: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _pair(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(",")
    try:
        pair = (float(low), float(high if sep else low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH seconds, got {text!r}") from None
    if not 0 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW <= HIGH, got {text!r}")
    return pair


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _converted(convert: Callable[[str], object]) -> Callable[[str], object]:
    """Turn a parser's ValueError into the argparse error that names the flag."""

    def wrapper(text: str) -> object:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return wrapper


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Emulate a fleet of Euchner EKS Ethernet key readers (TCP servers speaking EKS frames).",
        epilog="See docs/eks-emulator.md for the wire format, faults and the control API.",
    )
    fleet = parser.add_argument_group("fleet")
    fleet.add_argument("--devices", type=_positive_int, required=True, help="size of the whole fleet (all shards)")
    fleet.add_argument("--host", default="127.0.0.1", help="address the devices listen on (default 127.0.0.1)")
    fleet.add_argument(
        "--base-port",
        type=_port,
        default=2444,
        help="device i listens on BASE+i; 0 = OS-assigned (default 2444)",
    )
    fleet.add_argument("--shard", type=_converted(Shard.parse), default=Shard(), help="run devices i, i+n, ... (i/n)")
    fleet.add_argument("--start-rate", type=_non_negative, default=1000.0, help="devices started per second (0 = all)")
    fleet.add_argument(
        "--service-time",
        type=_converted(ServiceTime.parse),
        default=ServiceTime.uniform(0.02, 0.08),
        help="reply delay: fixed:S, uniform:LOW,HIGH or lognormal:MEDIAN,SIGMA (default uniform:0.02,0.08)",
    )
    fleet.add_argument(
        "--no-push-on-accept",
        action="store_true",
        help="do not send Ek with the key state right after accept",
    )
    fleet.add_argument("--seed", type=int, default=0, help="seed for workloads, faults and service times (default 0)")
    fleet.add_argument("--ports-file", type=Path, help="write the JSON list of {id, host, port} here once up")

    control = parser.add_argument_group("control")
    control.add_argument("--control-port", type=_port, help="serve the HTTP/JSON control API here (0 = OS-assigned)")
    control.add_argument("--control-host", default="127.0.0.1", help="address of the control API (default 127.0.0.1)")
    control.add_argument("--events-log", type=Path, help="append every insert/remove as a JSON line to this file")
    control.add_argument(
        "--fault",
        type=_converted(parse_fault),
        action="append",
        default=[],
        metavar="SPEC",
        help="schedule a fault, e.g. kind=reboot,fraction=0.1,at=30,down_s=5 (repeatable)",
    )

    workload = parser.add_argument_group("workload")
    workload.add_argument(
        "--scenario",
        default="none",
        help="none, shift-change, steady or replay:FILE (CSV: time_s,reader,key_serial_hex[,action])",
    )
    workload.add_argument(
        "--shift-boundaries",
        default="30,120",
        help="shift-change: shift starts/ends in seconds from start, comma-separated (default 30,120)",
    )
    workload.add_argument(
        "--shift-spread", type=_non_negative, default=10.0, help="shift-change: std deviation of arrivals (s)"
    )
    workload.add_argument("--keys-per-device", type=_positive_int, default=10, help="workers (keys) per reader")
    workload.add_argument("--dwell", type=_pair, default=(1.0, 3.0), help="seconds a key stays in: LOW,HIGH")
    workload.add_argument("--rate", type=_non_negative, default=0.1, help="steady: arrivals per reader per second")
    workload.add_argument("--duration", type=_non_negative, default=60.0, help="steady: seconds of arrivals")
    workload.add_argument(
        "--replay-dwell",
        type=_non_negative,
        default=2.0,
        help="replay: remove a key this long after a bare insert",
    )

    output = parser.add_argument_group("output")
    output.add_argument("--progress-interval", type=_non_negative, default=1.0, help="seconds between progress lines")
    output.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _workload(parser: argparse.ArgumentParser, args: argparse.Namespace, ids: range) -> list[WorkloadEvent]:
    scenario: str = args.scenario
    if scenario == "none":
        return []
    if scenario == "shift-change":
        try:
            boundaries = [float(v) for v in args.shift_boundaries.split(",")]
        except ValueError:
            parser.error(f"--shift-boundaries: expected seconds separated by commas, got {args.shift_boundaries!r}")
        return shift_change(
            ids,
            seed=args.seed,
            boundaries_s=boundaries,
            spread_s=args.shift_spread,
            keys_per_device=args.keys_per_device,
            dwell_s=args.dwell,
        )
    if scenario == "steady":
        if args.rate <= 0:
            parser.error("--rate must be > 0 for the steady scenario")
        return steady(
            ids,
            seed=args.seed,
            rate_per_s=args.rate,
            duration_s=args.duration,
            keys_per_device=args.keys_per_device,
            dwell_s=args.dwell,
        )
    if scenario.startswith("replay:") and len(scenario) > len("replay:"):
        try:
            return replay_csv(Path(scenario[len("replay:") :]), dwell_s=args.replay_dwell)
        except WorkloadFileError as exc:
            parser.error(f"--scenario: {exc}")
    parser.error(f"--scenario must be none, shift-change, steady or replay:FILE, got {scenario!r}")


class _Progress:
    """One status line on stderr: rewritten in place on a terminal, one line per refresh otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()

    def show(self, fleet: Fleet, elapsed_s: float) -> None:
        s = fleet.status()
        line = (
            f"{PROG}: t={elapsed_s:.0f}s devices up {s['devices_up']}/{s['devices']} | "
            f"clients {s['clients']} | events sent {s['events_sent']} | inserts {s['inserts']} | "
            f"faults active {s['faults_active']}"
        )
        self.stream.write(f"\r{line}\x1b[K" if self.in_place else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.in_place:
            self.stream.write("\n")


async def run(args: argparse.Namespace, workload: list[WorkloadEvent], stderr: TextIO = sys.stderr) -> int:
    """Run the fleet described by parsed ``args`` until SIGINT or SIGTERM; returns the exit status."""
    config = FleetConfig(
        args.devices,
        host=args.host,
        base_port=args.base_port,
        shard=args.shard,
        start_rate=args.start_rate,
        push_on_accept=not args.no_push_on_accept,
        service_time=args.service_time,
        seed=args.seed,
    )
    journal = EventJournal(args.events_log)
    fleet = Fleet(config, journal)
    controller = Controller(fleet)
    control: ControlServer | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    progress = _Progress(stderr)
    try:
        try:
            await fleet.start()
        except FleetError as exc:
            print(f"{PROG}: error: {exc}", file=stderr)
            return 1
        if args.control_port is not None:
            control = ControlServer(controller, args.control_host, args.control_port)
            try:
                await control.start()
            except OSError as exc:
                print(
                    f"{PROG}: error: control API cannot listen on port {args.control_port}: {exc}",
                    file=stderr,
                )
                return 1
        scheduled = fleet.schedule(workload)
        for item in args.fault:
            fleet.schedule_fault(item.at_s, fleet.select(item.fraction), item.fault)
        if args.ports_file is not None:
            devices = [{"id": d.device_id, "host": d.host, "port": d.port} for d in fleet.devices.values()]
            args.ports_file.write_text(json.dumps(devices, indent=1) + "\n")
        ports = [d.port for d in fleet.devices.values()]
        where = f"{args.host} ports {min(ports)}..{max(ports)}" if ports else "no devices in this shard"
        print(
            f"{PROG}: {len(fleet.devices)} of {config.devices} devices up on {where} (shard {config.shard}); "
            f"{scheduled} workload events scheduled"
            + (f"; control http://{args.control_host}:{control.port}" if control is not None else ""),
            file=stderr,
            flush=True,
        )
        while not stop.is_set():
            progress.show(fleet, fleet.timeline.elapsed())
            try:
                await asyncio.wait_for(stop.wait(), args.progress_interval or 1.0)
            except TimeoutError:
                pass
        progress.done()
        print(f"{PROG}: stopping", file=stderr, flush=True)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if control is not None:
            await control.stop()
        await fleet.stop()
        journal.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format=f"{PROG}: %(levelname)s %(name)s: %(message)s")
    try:
        FleetConfig(args.devices, base_port=args.base_port, start_rate=args.start_rate)
    except ValueError as exc:
        parser.error(str(exc))
    workload = _workload(parser, args, args.shard.device_ids(args.devices))
    return asyncio.run(run(args, workload))
