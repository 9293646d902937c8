"""Command line: ``python -m harness.conformance ws://127.0.0.1:8000/ [--categories 1,2] [--json out.json]``.

Prints one line per case that is not OK, then a count per verdict. Exit status 3 when any case FAILED,
distinct from 1 for a crash, so CI can gate on it.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

from harness.conformance.model import CheckResult, CloseVerdict, Verdict
from harness.conformance.runner import run_wire_checks

__all__ = ["main", "summarise"]

_QUIET_BEHAVIOURS = {Verdict.OK, Verdict.INFORMATIONAL}
_QUIET_CLOSES = {CloseVerdict.OK, CloseVerdict.INFORMATIONAL, CloseVerdict.NOT_APPLICABLE}


def summarise(results: list[CheckResult]) -> dict[str, dict[str, int]]:
    """Counts per behaviour verdict and per close verdict."""
    return {
        "behaviour": dict(collections.Counter(r.behaviour.value for r in results)),
        "behaviour_close": dict(collections.Counter(r.behaviour_close.value for r in results)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.conformance", description=__doc__)
    parser.add_argument("url", help="a WebSocket echo endpoint, ws://host:port/path")
    parser.add_argument("--categories", help="comma-separated category keys: 1..13, handshake, limits, keepalive")
    parser.add_argument("--ids", help="comma-separated case ids or id prefixes, e.g. 6.4,7.1.1")
    parser.add_argument("--slow", action="store_true", help="include the slow set (9.x, large 12/13, waits)")
    parser.add_argument("--unit", type=float, default=1.0, help="time unit in seconds (default 1.0)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-message-size", type=int, help="the server's message limit, for boundary checks")
    parser.add_argument("--json", type=Path, help="write every result to this file (refuses to overwrite)")
    args = parser.parse_args(argv)
    if args.json is not None and args.json.exists():
        parser.error(f"{args.json} exists; choose a new file")
    started = time.monotonic()
    results = run_wire_checks(
        args.url,
        categories=args.categories.split(",") if args.categories else None,
        ids=args.ids.split(",") if args.ids else None,
        include_slow=args.slow,
        unit=args.unit,
        concurrency=args.concurrency,
        max_message_size=args.max_message_size,
    )
    elapsed = time.monotonic() - started
    for res in results:
        if res.behaviour not in _QUIET_BEHAVIOURS or res.behaviour_close not in _QUIET_CLOSES:
            code = "-" if res.remote_close_code is None else str(res.remote_close_code)
            verdicts = f"{res.behaviour.value:15} {res.behaviour_close.value:16}"
            print(f"{res.id:8} {verdicts} {code:5} {'; '.join(res.notes)}")
    summary = summarise(results)
    print(f"{len(results)} checks in {elapsed:.1f}s")
    for key, counts in summary.items():
        print(f"{key}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.json is not None:
        payload = {
            "url": args.url,
            "elapsed_s": round(elapsed, 2),
            "summary": summary,
            "results": [r.to_json() for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=1, sort_keys=True))
    return 3 if any(r.behaviour is Verdict.FAILED for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
