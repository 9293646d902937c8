"""Ours' generator cost in two checkouts, alternated run by run (before/after a change to the generator).

Each run is ``benchmarks/generator_cost.py``'s ``ours`` runner imported from that checkout (its own harness, its
own way of reading its results), one fresh stack per run, in the order A B B A A B ... so a drift in the machine's
speed hits both sides alike. Prints every run and, per checkout, the median and range of the generator's CPU µs
per delivered message and of generator CPU / server CPU.

    python benchmarks/generator_ab.py --checkout old=/path/to/worktree --checkout new=. --scenario chat --rounds 4

Both checkouts must have ``benchmarks/generator_cost.py`` with ``RUNNERS["ours"]`` (every commit since 2026-11-22).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_RUN_ONE = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from benchmarks.generator_cost import RUNNERS, SCENARIOS\n"
    "m = RUNNERS['ours'](SCENARIOS[sys.argv[1]], 1, Path(sys.argv[2]), float(sys.argv[3]))\n"
    "print('RESULT ' + json.dumps({'delivered': m.delivered, 'generator_cpu_s': m.generator_cpu_s,\n"
    "    'server_cpu_s': m.server_cpu_s, 'window_s': m.window_s, 'flags': m.flags, 'valid': m.valid}))\n"
)


def _run(checkout: Path, scenario: str, out: Path, send_s: float) -> dict[str, object] | str:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_ONE, scenario, str(out), str(send_s)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return f"failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
    result: dict[str, object] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--checkout",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="a checkout to measure (give two or more); runs alternate between them",
    )
    parser.add_argument("--scenario", default="chat", help="a scenario of generator_cost.py (default: chat)")
    parser.add_argument("--rounds", type=int, default=4, help="runs per checkout (default: 4)")
    parser.add_argument("--send-seconds", type=float, default=20.0, help="seconds each run sends (default: 20)")
    parser.add_argument("--out", type=Path, help="keeps every run's files (default: a temporary directory)")
    args = parser.parse_args(argv)
    checkouts: dict[str, Path] = {}
    for item in args.checkout:
        name, sep, directory = item.partition("=")
        path = Path(directory).resolve()
        if not sep or not name or not (path / "benchmarks" / "generator_cost.py").is_file():
            parser.error(f"--checkout {item!r}: expected NAME=DIR, DIR a checkout with benchmarks/generator_cost.py")
        checkouts[name] = path
    if len(checkouts) < 2 or args.rounds < 1:
        parser.error("need two or more --checkout and --rounds >= 1")
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="generator-ab-"))
    per_us: dict[str, list[float]] = {name: [] for name in checkouts}
    per_ratio: dict[str, list[float]] = {name: [] for name in checkouts}
    for r in range(args.rounds):
        order = list(checkouts) if r % 2 == 0 else list(checkouts)[::-1]
        for name in order:
            result = _run(checkouts[name], args.scenario, out / f"{name}-{r + 1}", args.send_seconds)
            if isinstance(result, str) or not result["valid"]:
                print(f"round {r + 1} {name}: {result}", flush=True)
                continue
            delivered = float(str(result["delivered"]))
            gen, server = float(str(result["generator_cpu_s"])), float(str(result["server_cpu_s"]))
            per_us[name].append(gen * 1e6 / delivered)
            per_ratio[name].append(gen / server)
            print(
                f"round {r + 1} {name}: {int(delivered)} delivered in {result['window_s']} s, generator "
                f"{per_us[name][-1]:.1f} µs/delivery, generator/server {per_ratio[name][-1]:.3f}, "
                f"flags {result['flags'] or 'none'}",
                flush=True,
            )
    print()
    for name in checkouts:
        us, ratio = per_us[name], per_ratio[name]
        if not us:
            print(f"{name}: no valid run")
            continue
        print(
            f"{name}: {len(us)} runs; generator µs per delivery median {statistics.median(us):.1f} "
            f"({min(us):.1f}-{max(us):.1f}); generator/server median {statistics.median(ratio):.3f} "
            f"({min(ratio):.3f}-{max(ratio):.3f})"
        )
    print(f"runs kept in {out}")
    return 0 if all(per_us.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
