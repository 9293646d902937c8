"""``harness fault-proxy``: the fault proxy on its own, for a user who wants to put it in front of a service."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

__all__ = ["add_parser", "run_command"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fault-proxy",
        help="relay TCP to a service through toxics (latency, bandwidth, blackhole, half_open, reset_peer, limit_data)",
        description="Listen on 127.0.0.1:--port and relay every connection to --upstream, with the toxics given, "
        "until Ctrl-C or SIGTERM. Each toxic is DIRECTION=SPEC, DIRECTION upstream (client to service) or "
        "downstream, SPEC e.g. latency:delay_ms=50,jitter_ms=10, bandwidth:bytes_per_s=100000, blackhole, "
        "half_open, reset_peer, limit_data:bytes=1000. With --for, the toxics are taken off after that many seconds "
        "and the proxy keeps relaying.",
    )
    p.add_argument("--upstream", required=True, help="HOST:PORT of the service, e.g. 127.0.0.1:6379.")
    p.add_argument("--port", type=int, default=0, help="Port to listen on (default: a free one, printed).")
    p.add_argument(
        "--toxic", action="append", default=[], metavar="DIRECTION=SPEC", help="A toxic to put on (repeatable)."
    )
    p.add_argument("--for", dest="for_s", type=float, help="Seconds after which the toxics are taken off.")
    p.add_argument("--seed", type=int, default=0, help="Seed of the latency jitter (default 0).")


def _usage(message: str) -> int:
    print(f"harness fault-proxy: error: {message}", file=sys.stderr)
    return 2


def run_command(args: argparse.Namespace) -> int:
    from harness.faults.proxy import FaultProxy
    from harness.faults.toxics import DIRECTIONS, Direction, Toxic, parse_toxic

    host, sep, port_text = args.upstream.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        return _usage(f"--upstream {args.upstream!r}: expected HOST:PORT")
    toxics: list[tuple[Direction, Toxic]] = []
    for text in args.toxic:
        direction, sep, spec = text.partition("=")
        if not sep or direction not in DIRECTIONS:
            return _usage(f"--toxic {text!r}: expected DIRECTION=SPEC with DIRECTION one of {', '.join(DIRECTIONS)}")
        try:
            toxics.append((direction, parse_toxic(spec)))
        except ValueError as exc:
            return _usage(f"--toxic {text!r}: {exc}")
    if args.for_s is not None and not args.for_s > 0:
        return _usage(f"--for {args.for_s:g}: expected seconds > 0")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        proxy = FaultProxy((host, int(port_text)), seed=args.seed).start(args.port)
    except OSError as exc:
        print(f"harness fault-proxy: error: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"listening on 127.0.0.1:{proxy.port}, relaying to {host}:{port_text}", flush=True)
        for direction, toxic in toxics:
            proxy.set_toxic(direction, toxic)
            print(f"{time.strftime('%H:%M:%S')} {direction}: {toxic}", flush=True)
        if args.for_s is not None and not stop.wait(args.for_s):
            for direction, _ in toxics:
                proxy.set_toxic(direction, None)
                print(f"{time.strftime('%H:%M:%S')} {direction}: no toxic", flush=True)
        stop.wait()
    finally:
        proxy.stop()
    print(f"stopped; {proxy.accepted} connections relayed, {len(proxy.log)} toxic changes", flush=True)
    return 0
