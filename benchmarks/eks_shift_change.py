"""Shift change through the whole EKS path: emulated readers -> gateway -> worker -> database and kiosks.

    PYTHONPATH=. python benchmarks/eks_shift_change.py --readers 1000 --server uvicorn --burst-s 45

Starts a reference-app stack (Redis layer, N terminals and employees), one emulator process with N readers
on the ports the terminals name, one gateway process and N kiosk WebSockets, then inserts every employee's
key into their own terminal's reader at seeded random times within ``--burst-s`` and prints:

* the burst: inserts issued, and the time from the first insert to the last punch a kiosk received;
* punches stored, lost (inserts with no stored punch), duplicates (stored punches beyond one per insert);
* kiosks that received their punch;
* insert -> kiosk latency p50/p99/max (an HDR histogram, 3 significant digits): from the emulator's ``monotonic_ns``
  stamp taken right after it wrote the ``Ek 01`` frame to the moment this process read the punch message
  (CLOCK_MONOTONIC, one host).

The machinery lives in ``harness/run/shift_change.py`` (``harness run`` drives timeclock scenarios with it); the
end-to-end tests in tests/gateway/test_e2e.py call ``run_shift_change`` with 200 readers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness.run.shift_change import ShiftChangeResult, run_shift_change

__all__ = ["ShiftChangeResult", "main", "run_shift_change"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--readers", type=int, default=1000, help="readers = terminals = employees (default 1000)")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="uvicorn", help="ASGI server")
    parser.add_argument("--burst-s", type=float, default=45.0, help="inserts are spread over this window (s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the insert schedule")
    parser.add_argument(
        "--gateways", type=int, default=1, help="gateway processes splitting the readers with --shard i/n (default 1)"
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="keep logs and the database here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of lines")
    args = parser.parse_args(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="eks-shift-change-"))
    try:
        result = run_shift_change(
            args.readers, args.server, run_dir, burst_s=args.burst_s, seed=args.seed, gateways=args.gateways
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        print(json.dumps(asdict(result), indent=2, sort_keys=True))
    else:
        print("\n".join(result.lines()))
        print(f"logs and database: {run_dir}")
    return 0 if result.lost == 0 and result.duplicates == 0 and result.kiosks_with_punch == result.readers else 3


if __name__ == "__main__":
    sys.exit(main())
