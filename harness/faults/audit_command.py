"""``harness audit-punches DIR``: repeat a timeclock run's exactly-once audit from the files it kept."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_parser", "run_command"]

_FILES = ("eks-events.jsonl", "punches.jsonl", "audit-context.json")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit-punches",
        help="repeat a timeclock run's exactly-once audit of punches from the files it kept",
        description="Match every key insert of the EKS emulator's event log (eks-events.jsonl) with the punches the "
        "run dumped from the database (punches.jsonl), using the readers' terminals and the known keys "
        "(audit-context.json); a timeclock cell keeps all three in its stack directory "
        "(<out>/<cell>/stack/). Prints the audit; exit 0 when exactly once, 1 when not, 2 on a bad directory.",
    )
    p.add_argument("directory", type=Path, help="The directory holding the three files.")
    p.add_argument(
        "--late-s",
        type=float,
        default=2.0,
        help="A punch stored later than this after its insert counts as recovered late (default 2).",
    )
    p.add_argument("--json", action="store_true", help="Print the audit as JSON instead of a sentence.")


def run_command(args: argparse.Namespace) -> int:
    from harness.measure.punch_audit import audit_files

    directory: Path = args.directory
    missing = [name for name in _FILES if not (directory / name).is_file()]
    if missing:
        print(
            f"harness audit-punches: error: {directory} lacks {', '.join(missing)}; give the stack directory of a "
            "timeclock cell (<out>/<cell>/stack/)",
            file=sys.stderr,
        )
        return 2
    if not args.late_s > 0:
        print(f"harness audit-punches: error: --late-s must be > 0, got {args.late_s}", file=sys.stderr)
        return 2
    try:
        audit = audit_files(directory, late_s=args.late_s)
    except (ValueError, KeyError) as exc:
        print(f"harness audit-punches: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(audit.as_dict(), indent=1) if args.json else audit.sentence())
    return 0 if audit.exactly_once else 1
