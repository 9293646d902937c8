"""``nox -s capacity-validation``: does ``harness capacity`` find a capacity known by construction, and how fast?

For each nominal capacity and mode, an echo server ``harness.testing.known_capacity`` (one uvicorn process; every
message costs 1/capacity seconds of one server, served one at a time: busy CPU on the event loop in ``cpu`` mode, a
wall-time queue in ``wall`` mode) is searched with the defaults a user gets (``--dimension rate``, 3 trials per
load, 5 s trials, 5 % precision, a 15 s confirmation) and the bundled ``capacity-echo`` scenario (p99 < 50 ms, no
loss). Prints, and writes to ``capacity-validation.md``: the bracket found, the error of its lower end against the
nominal capacity (goal: within ±10 %), the trials, and the search's wall time (goal: <= 10 minutes).

The nominal capacity of the ``cpu`` mode leaves out uvicorn's and the WebSocket protocol's own cost per message,
so its true capacity is a little lower; the ``wall`` mode's does not depend on the CPU left over.

    python benchmarks/capacity_validation.py --out reports/capacity-validation
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.stack.network import free_port


def _serve(capacity: float, mode: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "HARNESS_CAPACITY_MSGS": f"{capacity:g}", "HARNESS_CAPACITY_MODE": mode}
    argv = [sys.executable, "-m", "uvicorn", "harness.testing.known_capacity:app", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen([*argv, "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"ws://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the known-capacity server did not start; see {log}")


def _search(capacity: float, mode: str, out: Path, extra: list[str]) -> dict[str, Any]:
    directory = out / f"{mode}-{capacity:g}"
    directory.mkdir(parents=True, exist_ok=True)
    proc, url = _serve(capacity, mode, directory / "server.log")
    try:
        argv = [sys.executable, "-m", "harness", "capacity", "--scenario", "capacity-echo", "--dimension", "rate"]
        argv += ["--target", url, "--out", str(directory), *extra]
        t0 = time.monotonic()
        with (directory / "capacity.log").open("w") as log:
            code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        wall = time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    path = directory / "capacity.json"
    if not path.is_file():
        return {"capacity": capacity, "mode": mode, "exit_code": code, "wall_s": wall, "search": None}
    search = json.loads(path.read_text())["searches"][0]
    return {"capacity": capacity, "mode": mode, "exit_code": code, "wall_s": wall, "search": search}


def _row(result: dict[str, Any]) -> str:
    search = result["search"]
    head = f"| {result['mode']} | {result['capacity']:g} msg/s |"
    if search is None:
        return f"{head} – | – | failed (exit {result['exit_code']}) | – | {result['wall_s'] / 60:.1f} min |"
    bracket = search["bracket"]
    low, high = bracket["last_pass"], bracket["first_fail"]
    error = "–" if low is None else f"{low / result['capacity'] - 1:+.1%}"
    within = low is not None and abs(low / result["capacity"] - 1) <= 0.10
    failed = ", ".join(c["name"] for c in search["first_fail_checks"]) or "–"
    shown = f"[{'–' if low is None else f'{low:,.1f}'}, {'–' if high is None else f'{high:,.1f}'}]"
    return (
        f"{head} {shown} | {error} ({'within' if within else 'OUTSIDE'} ±10 %) | {search['outcome']}; first fail: "
        f"{failed} | {len(search['trials'])} trials, {len(search['loads'])} loads | {result['wall_s'] / 60:.1f} min "
        f"({'<=' if result['wall_s'] <= 600 else '>'} 10) |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--capacities", default="100,200,400", help="nominal capacities in msg/s, comma-separated (100,200,400)"
    )
    parser.add_argument("--modes", default="cpu,wall", help="cpu, wall or both (default both)")
    parser.add_argument("--out", type=Path, default=Path("reports/capacity-validation"), help="where it all goes")
    parser.add_argument("extra", nargs="*", help="more harness capacity arguments, after --")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for mode in args.modes.split(","):
        for capacity in (float(c) for c in args.capacities.split(",")):
            result = _search(capacity, mode, args.out, list(args.extra))
            print(_row(result), flush=True)
            results.append(result)
    lines = [
        "# Capacity search against servers of known capacity",
        "",
        "| mode | nominal | bracket found (msg/s) | lower end vs nominal | outcome | trials | wall time |",
        "|---|---:|---|---|---|---|---:|",
        *(_row(r) for r in results),
    ]
    text = "\n".join(lines) + "\n"
    (args.out / "capacity-validation.md").write_text(text)
    (args.out / "capacity-validation.json").write_text(
        json.dumps([{k: v for k, v in r.items() if k != "search"} | {"search": r["search"]} for r in results])
    )
    print(text)
    ok = all(
        r["search"]
        and r["search"]["bracket"]["last_pass"]
        and abs(r["search"]["bracket"]["last_pass"] / r["capacity"] - 1) <= 0.10
        for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
