"""``nox -s gate-validation``: how often the gate cries wolf, and how often it catches a real regression.

On the real reference app (``harness gate --baseline REV --candidate REV``, both arms the same commit, built once):

1. ``--aa`` A/A gates: nothing differs, so every REGRESSION is a false alarm.
2. ``--ab`` A/B gates: the candidate spends ``--effect`` more CPU per delivered message, injected with the
   reference app's test-only knob ``REFERENCE_APP_TEST_ONLY_CHAT_CPU_US`` on the candidate only. The knob's value
   is calibrated from the A/A gates' baseline trials: effect × median CPU µs per delivered message × the
   deliveries each chat message makes (the room size), since the knob is paid once per message sent.
3. Resampling: thousands of gates re-judged from the recorded pairs (drawn with replacement, each pair as it was
   recorded, so a pair's two trials stay neighbours in time), A/A pairs for the null and A/B pairs for power.

Every gate's directory (gate.json with every trial, report.html, ...) is kept under ``--out``. Prints, and writes
to ``validation.json`` and ``validation.md``: each gate's verdict and wall time; the A/A false alarms (goal 0
confirmed) and the resampled rate after confirmation (goal <= 1 %); the detection rate (goal >= 95 %) and which of
p50 and p99 also caught it; the gates' median wall time.

    python benchmarks/gate_validation.py --aa 10 --ab 10 --out reports/gate-validation
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.gate.decision import Pair, Sequential
from harness.gate.document import recorded_judging
from harness.gate.runner import usable_pairs
from harness.gate.trial import Trial

KNOB = "REFERENCE_APP_TEST_ONLY_CHAT_CPU_US"


@dataclass
class Gate:
    label: str
    seed: int
    exit_code: int
    wall_s: float
    directory: Path
    doc: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def verdict(self) -> str:
        return str(self.doc["verdict"]) if self.doc else f"failed (exit {self.exit_code})"

    def confirmed(self) -> list[str]:
        return list(self.doc["confirmed"]) if self.doc else []

    def pairs(self) -> list[Pair]:
        return usable_pairs([Trial.from_dict(t) for t in self.doc["trials"]]) if self.doc else []


def _run_gate(label: str, seed: int, args: argparse.Namespace, extra: list[str]) -> Gate:
    directory = args.out / f"{label}-seed{seed}"
    argv = [sys.executable, "-m", "harness", "gate", "--scenario", args.scenario, "--baseline", args.revision]
    argv += ["--candidate", args.revision, "--envs", str(args.out / "envs"), "--seed", str(seed)]
    argv += ["--out", str(directory), *extra]
    t0 = time.monotonic()
    with (args.out / f"{label}-seed{seed}.log").open("w") as log:
        code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.monotonic() - t0
    path = directory / "gate.json"
    doc = json.loads(path.read_text()) if path.is_file() else None
    gate = Gate(label, seed, code, wall, directory, doc)
    found = ", ".join(gate.confirmed()) or "-"
    print(f"{label} seed {seed}: {gate.verdict.upper()} (exit {code}) in {wall / 60:.1f} min; confirmed: {found}")
    return gate


def _recorded(args: argparse.Namespace) -> tuple[list[Gate], list[Gate], int, float | None, float]:
    """The gates of an earlier run in ``args.out``, as its validation.json lists them."""
    earlier = json.loads((args.out / "validation.json").read_text())
    gates = []
    for g in earlier["gates"]:
        path = Path(g["directory"]) / "gate.json"
        doc = json.loads(path.read_text()) if path.is_file() else None
        gates.append(Gate(g["label"], int(g["seed"]), int(g["exit_code"]), float(g["wall_s"]), path.parent, doc))
    knob = earlier["knob"]
    return (
        [g for g in gates if g.label == "aa"],
        [g for g in gates if g.label == "ab"],
        int(knob[KNOB]),
        None if knob["baseline_cpu_us_per_message"] is None else float(knob["baseline_cpu_us_per_message"]),
        float(earlier["total_min"]) * 60,
    )


def _at_effect(pool: list[Pair], effect: float) -> tuple[list[Pair], float]:
    """The pool with every candidate's CPU per message scaled so the pairs' median CPU ratio is exactly
    ``1 + effect`` (latencies as measured), and the median ratio it had."""
    ratios = sorted(
        p.candidate["cpu_per_message"] / p.baseline["cpu_per_message"]
        for p in pool
        if "cpu_per_message" in p.candidate and "cpu_per_message" in p.baseline
    )
    measured = statistics.median(ratios)
    scale = (1 + effect) / measured
    scaled = [
        dataclasses.replace(
            p,
            candidate={k: v * scale if k == "cpu_per_message" else v for k, v in p.candidate.items()},
        )
        for p in pool
    ]
    return scaled, measured


def _knob_us(aa: list[Gate], effect: float, room_size: int) -> tuple[int, float]:
    cpu = [
        t["figures"]["cpu_per_message"]
        for gate in aa
        if gate.doc
        for t in gate.doc["trials"]
        if t["arm"] == "baseline" and t["pair"] > 0 and not t["rejected"] and "cpu_per_message" in t["figures"]
    ]
    if not cpu:
        raise SystemExit("no A/A trial measured server CPU per message: nothing to calibrate the knob from")
    median = statistics.median(cpu)
    return max(1, round(effect * median * room_size)), median


def _resample(pool: list[Pair], doc: dict[str, Any], draws: int, seed: int) -> tuple[Counter[str], Counter[str]]:
    """Gates re-judged on pairs drawn with replacement from ``pool``: verdicts, and metrics confirmed slower."""
    rules, plan, budget = recorded_judging(doc)
    rng = random.Random(seed)
    verdicts: Counter[str] = Counter()
    metrics: Counter[str] = Counter()
    for _ in range(draws):
        sequential = Sequential(rules, plan, budget)
        while sequential.wanted():
            sequential.add(rng.choice(pool))
        assert sequential.final is not None
        verdicts[sequential.final.value] += 1
        if sequential.final.value == "regression":
            metrics.update(sequential.stages[-1].regressed)
    return verdicts, metrics


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in logs (the coefficients overflow floats for n in the thousands)."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 1.0 if k >= n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _bounds95(k: int, n: int) -> tuple[float, float]:
    """One-sided 95 % Clopper–Pearson bounds of a binomial rate: (at least, at most)."""

    def solve(target: float, k_: int) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _binomial_cdf(k_, n, mid) > target else (lo, mid)
        return (lo + hi) / 2

    upper = 1.0 if k >= n else solve(0.05, k)
    # The lower bound p has P(X >= k | p) = 0.05, that is P(X <= k - 1 | p) = 0.95.
    lower = 0.0 if k == 0 else solve(0.95, k - 1)
    return lower, upper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--aa", type=int, default=10, help="A/A gates to run (default 10)")
    parser.add_argument("--ab", type=int, default=10, help="A/B gates with the injected regression (default 10)")
    parser.add_argument("--effect", type=float, default=0.15, help="injected CPU per message, a ratio (0.15)")
    parser.add_argument("--scenario", default="gate-chat", help="the gate scenario (default gate-chat)")
    parser.add_argument("--revision", default="HEAD", help="the commit both arms run (default HEAD)")
    parser.add_argument("--draws", type=int, default=4000, help="resampled gates per pool (default 4000)")
    parser.add_argument("--seed", type=int, default=1, help="first gate seed; gate i uses seed + i (default 1)")
    parser.add_argument("--out", type=Path, default=Path("reports/gate-validation"), help="where everything goes")
    parser.add_argument(
        "--knob",
        type=int,
        help=f"µs of {KNOB} on the candidate instead of calibrating it from the A/A gates (then --aa may be 0)",
    )
    parser.add_argument(
        "--recorded",
        action="store_true",
        help="run no gate: summarise again the gates recorded in --out (its validation.json and gate directories)",
    )
    args = parser.parse_args(argv)
    if args.aa < (0 if args.knob else 1) or args.ab < 0 or not 0 < args.effect < 1 or (args.knob or 1) < 1:
        parser.error("--aa >= 1 (0 with --knob), --ab >= 0, 0 < --effect < 1 and --knob >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    from harness.scenario import load_any

    room_size = load_any(args.scenario).load.room_size or 1
    t0 = time.monotonic()
    if args.recorded:
        aa, ab, knob, median_cpu, total_s = _recorded(args)
    else:
        aa = [_run_gate("aa", args.seed + i, args, []) for i in range(args.aa)]
        if args.knob:
            knob, median_cpu = args.knob, None
            print(f"{KNOB}={knob} on the candidate, as given (not calibrated)")
        else:
            knob, median_cpu = _knob_us(aa, args.effect, room_size)
            print(
                f"calibration: baseline CPU {median_cpu:.0f} µs per delivered message (median of the A/A trials), "
                f"{room_size} deliveries per chat message: {KNOB}={knob} on the candidate adds {args.effect:.0%}"
            )
        ab = [_run_gate("ab", args.seed + 100 + i, args, ["--candidate-env", f"{KNOB}={knob}"]) for i in range(args.ab)]
        total_s = time.monotonic() - t0
    report = _summarise(aa, ab, args, knob, median_cpu, total_s)
    (args.out / "validation.json").write_text(json.dumps(report, indent=2) + "\n")
    text = _markdown(report)
    (args.out / "validation.md").write_text(text)
    print(text)
    return 0


def _summarise(
    aa: list[Gate], ab: list[Gate], args: argparse.Namespace, knob: int, median_cpu: float | None, total_s: float
) -> dict[str, Any]:
    reference = next(g.doc for g in aa + ab if g.doc)
    report: dict[str, Any] = {
        "scenario": args.scenario,
        "revision": args.revision,
        "effect": args.effect,
        "knob": {KNOB: knob, "baseline_cpu_us_per_message": median_cpu},
        "total_min": total_s / 60,
        "gates": [
            {
                "label": g.label,
                "seed": g.seed,
                "verdict": g.verdict,
                "exit_code": g.exit_code,
                "wall_s": g.wall_s,
                "confirmed": g.confirmed(),
                "directory": str(g.directory),
            }
            for g in aa + ab
        ],
        "median_wall_min": statistics.median(g.wall_s for g in aa + ab) / 60,
    }
    for label, gates in (("aa", aa), ("ab", ab)):
        if not gates:
            continue
        pool = [pair for g in gates for pair in g.pairs()]
        verdicts, metrics = _resample(pool, reference, args.draws, args.seed)
        regressions = verdicts["regression"]
        measured = [
            j["ratio"]
            for g in gates
            if g.doc and g.doc["stages"]
            for j in g.doc["stages"][0]["judgements"]
            if j["metric"] == "cpu_per_message" and j["ratio"] is not None
        ]
        nominal: dict[str, Any] | None = None
        if label == "ab" and pool:
            scaled, pool_ratio = _at_effect(pool, args.effect)
            at_verdicts, at_metrics = _resample(scaled, reference, args.draws, args.seed)
            nominal = {
                "pool_cpu_ratio_median": pool_ratio,
                "regression_rate": at_verdicts["regression"] / args.draws,
                "regression_rate_bounds95": _bounds95(at_verdicts["regression"], args.draws),
                "confirmed_by_metric": {m: n / args.draws for m, n in at_metrics.items()},
            }
        report[label] = {
            "gates": len(gates),
            "verdicts": dict(Counter(g.verdict for g in gates)),
            "confirmed_regressions": sum(1 for g in gates if g.verdict == "regression"),
            "failed": sum(1 for g in gates if g.doc is None),
            "median_wall_min": statistics.median(g.wall_s for g in gates) / 60,
            "cpu_ratio_median": statistics.median(measured) if measured else None,
            "pool_pairs": len(pool),
            "resampled": {
                "draws": args.draws,
                "verdicts": dict(verdicts),
                "regression_rate": regressions / args.draws,
                "regression_rate_bounds95": _bounds95(regressions, args.draws),
                "confirmed_by_metric": {m: n / args.draws for m, n in metrics.items()},
            },
            "at_nominal_effect": nominal,
        }
    return report


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Gate validation: `{report['scenario']}` at `{report['revision']}`",
        "",
        (
            f"Injected: {report['effect']:.0%} CPU per delivered message ({KNOB}={report['knob'][KNOB]}, baseline "
            f"{report['knob']['baseline_cpu_us_per_message']:.0f} µs). "
            if report["knob"]["baseline_cpu_us_per_message"] is not None
            else f"Injected: {KNOB}={report['knob'][KNOB]}, as given. "
        )
        + f"Total {report['total_min']:.0f} min; median gate {report['median_wall_min']:.1f} min.",
        "",
        "| gates | run | verdicts | confirmed regressions | median wall | CPU/msg estimate (median) | resampled "
        "gates | resampled REGRESSION rate | caught by metric (resampled) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, name in (("aa", "A/A (no change)"), ("ab", f"A/B (+{report['effect']:.0%} CPU)")):
        r = report.get(label)
        if not r:
            continue
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(r["verdicts"].items()))
        cpu = "–" if r["cpu_ratio_median"] is None else f"{r['cpu_ratio_median'] - 1:+.1%}"
        res = r["resampled"]
        by_metric = ", ".join(f"{m} {v:.1%}" for m, v in sorted(res["confirmed_by_metric"].items())) or "–"
        lines.append(
            f"| {name} | {r['gates']} | {verdicts} | {r['confirmed_regressions']} | {r['median_wall_min']:.1f} min "
            f"| {cpu} | {res['draws']} from {r['pool_pairs']} pairs | {res['regression_rate']:.2%} "
            f"({res['regression_rate_bounds95'][0]:.2%} … {res['regression_rate_bounds95'][1]:.2%} at 95 %) "
            f"| {by_metric} |"
        )
    nominal = report.get("ab", {}).get("at_nominal_effect")
    if nominal:
        by_metric = ", ".join(f"{m} {v:.1%}" for m, v in sorted(nominal["confirmed_by_metric"].items())) or "–"
        low, high = nominal["regression_rate_bounds95"]
        lines += [
            "",
            f"The A/B pairs' median CPU ratio was {nominal['pool_cpu_ratio_median'] - 1:+.1%}. Re-judged with every "
            f"candidate's CPU per message scaled to exactly {report['effect']:+.0%} (latencies as measured): "
            f"REGRESSION in {nominal['regression_rate']:.2%} ({low:.2%} … {high:.2%} at 95 %); caught by {by_metric}.",
        ]
    lines += ["", "Gates:", ""]
    for g in report["gates"]:
        found = ", ".join(g["confirmed"]) or "-"
        lines.append(
            f"- {g['label']} seed {g['seed']}: {g['verdict']} (exit {g['exit_code']}), "
            f"{g['wall_s'] / 60:.1f} min, confirmed {found}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
