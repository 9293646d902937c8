"""``harness gate``: its arguments, and the two ways it gets trials (running them, or reading recorded ones)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.scenario.overrides import add_override_options

__all__ = ["add_parser", "run_command"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gate",
        help="compare a candidate with a baseline in interleaved trials; exit 3 on a confirmed latency or CPU "
        "regression",
        description="Run short open-loop trials of a scenario against the baseline and the candidate in "
        "interleaved pairs (ABBA), judge each metric on the paired log-ratios with an exact signed-rank test, add "
        "pairs while the verdict is open, and confirm a regression with fresh pairs. Writes gate.json, summary.md "
        "and junit.xml. Exit 0 no regression, 3 regression, 4 inconclusive, 1 the gate failed, 2 usage. "
        "See docs/ci.md.",
    )
    p.add_argument(
        "--scenario",
        help="Scenario name from scenarios/ or a path to a .toml file; its [gate] table sets thresholds and "
        "trial length (kinds echo, broadcast, chat, notifications; constant shape).",
    )
    p.add_argument(
        "--baseline",
        metavar="REF",
        help="Git revision of the baseline (branch, tag, SHA): the reference app at that revision, built in its own "
        "worktree and environment and started by the harness.",
    )
    p.add_argument(
        "--candidate",
        metavar="REF",
        help="Git revision of the candidate (default with --baseline: the working tree, uncommitted changes included).",
    )
    p.add_argument(
        "--repo",
        type=Path,
        default=Path("."),
        help="The git repository --baseline/--candidate name revisions of (default: the one holding the current "
        "directory).",
    )
    p.add_argument(
        "--envs",
        type=Path,
        metavar="DIR",
        help="Where the revisions' environments are built and kept: one built here earlier for the same commit is "
        "reused (the working tree is always rebuilt). Default: inside --out, built afresh.",
    )
    p.add_argument("--server", help="Server the revisions run on (default: the scenario's first).")
    p.add_argument("--layer", help="Channel layer of the revisions' stacks (default: the scenario's first).")
    p.add_argument("--workers", type=int, help="Server processes per arm (default: the scenario's first).")
    p.add_argument(
        "--baseline-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A variable set in the baseline app's environment (repeatable).",
    )
    p.add_argument(
        "--candidate-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Likewise for the candidate (e.g. a feature flag, or the test-only cost knob that gate-validation uses).",
    )
    p.add_argument("--baseline-target", metavar="URL", help="ws:// URL of the baseline deployment.")
    p.add_argument("--candidate-target", metavar="URL", help="ws:// URL of the candidate deployment.")
    p.add_argument(
        "--baseline-pid",
        type=int,
        action="append",
        default=[],
        metavar="PID",
        help="A baseline server process on this machine (repeatable; its children count too): enables server "
        "CPU per message, the least noisy metric.",
    )
    p.add_argument(
        "--candidate-pid", type=int, action="append", default=[], metavar="PID", help="Likewise for the candidate."
    )
    p.add_argument("--baseline-credentials", type=Path, help="Credentials JSON for the baseline (chat kinds).")
    p.add_argument("--candidate-credentials", type=Path, help="Credentials JSON for the candidate (chat kinds).")
    p.add_argument(
        "--baseline-result",
        type=Path,
        metavar="DIR",
        help="Judge recorded trials instead of running: the baseline trials of this gate run directory ...",
    )
    p.add_argument(
        "--candidate-result",
        type=Path,
        metavar="DIR",
        help="... and the candidate trials of this one (the same directory re-judges that run).",
    )
    p.add_argument("--trial-s", type=float, help="Seconds each trial sends (default: the [gate] table's, else 6).")
    p.add_argument("--seed", type=int, default=1, help="Seed of the first arm's draw and the send times (default: 1).")
    p.add_argument(
        "--inconclusive",
        choices=("fail", "pass"),
        default="fail",
        help="Exit code of an INCONCLUSIVE verdict: fail = 4 (default), pass = 0.",
    )
    p.add_argument(
        "--max-reruns",
        type=int,
        default=6,
        help="Pairs that may be run again after a rejected trial before the gate gives up (default: 6).",
    )
    p.add_argument("--out", type=Path, help="Gate directory (default: reports/<timestamp>-gate-<scenario>/).")
    add_override_options(p, shorthands=False)


def _usage(message: str) -> int:
    print(f"harness gate: error: {message}", file=sys.stderr)
    return 2


def run_command(args: argparse.Namespace) -> int:
    modes = {
        "revisions": args.baseline is not None or args.candidate is not None,
        "targets": args.baseline_target is not None or args.candidate_target is not None,
        "results": args.baseline_result is not None or args.candidate_result is not None,
    }
    if sum(modes.values()) != 1:
        return _usage(
            "give one of --baseline [--candidate] (two git revisions), --baseline-target and --candidate-target "
            "(two deployments), or --baseline-result and --candidate-result (recorded gate runs)"
        )
    if args.max_reruns < 0 or (args.trial_s is not None and args.trial_s < 1):
        return _usage("--max-reruns must be >= 0 and --trial-s >= 1")
    stack_flags = [f for f in ("server", "layer", "workers", "envs") if getattr(args, f) is not None]
    stack_flags += [f for f in ("baseline_env", "candidate_env") if getattr(args, f)]
    if stack_flags and not modes["revisions"]:
        flags = ", ".join("--" + f.replace("_", "-") for f in stack_flags)
        return _usage(f"{flags} only apply to --baseline/--candidate (revisions the harness starts)")
    if modes["revisions"]:
        if args.baseline is None:
            return _usage("--candidate needs --baseline (the revision it is compared with)")
        if not args.scenario:
            return _usage("--scenario is required with --baseline")
        return _run_revisions(args)
    if modes["targets"]:
        if not (args.baseline_target and args.candidate_target):
            return _usage("--baseline-target and --candidate-target go together")
        if not args.scenario:
            return _usage("--scenario is required with --baseline-target/--candidate-target")
        return _run_targets(args)
    if not (args.baseline_result and args.candidate_result):
        return _usage("--baseline-result and --candidate-result go together")
    return _rejudge(args)


def _scenario(args: argparse.Namespace) -> Any:
    from harness.scenario import load_any
    from harness.scenario.overrides import overrides_of

    scenario = load_any(args.scenario, overrides_of(args))
    if args.trial_s is not None:
        scenario = dataclasses.replace(scenario, gate=dataclasses.replace(scenario.gate, trial_s=args.trial_s))
    return scenario


def _finish(doc: dict[str, Any], out: Path) -> int:
    from harness.report.gate_files import render_summary, write_gate_files

    files = write_gate_files(doc, out)
    print(render_summary(doc))
    print(" ".join(f"{name}: {path}" for name, path in files.items()))
    return int(doc["exit_code"])


def _gate_scenario(args: argparse.Namespace) -> Any:
    """The scenario, checked for a gate; raises ValueError (a usage error) when it cannot be gated."""
    from harness.gate.runner import check_gateable
    from harness.scenario import ScenarioError

    try:
        scenario = _scenario(args)
        check_gateable(scenario)
    except ScenarioError as exc:
        raise ValueError(str(exc)) from None
    return scenario


def _measure_and_judge(
    args: argparse.Namespace,
    scenario: Any,
    arms: dict[str, Any],
    arm_docs: Callable[[], dict[str, dict[str, Any]]],
    notes: list[str],
    out: Path,
    before_pair: Callable[[int], None] | None = None,
) -> int:
    from harness.gate.decision import GatePlan
    from harness.gate.document import build_gate_document
    from harness.gate.runner import GateError, gate_rules, run_gate
    from harness.gate.trial import DISTURBANCE
    from harness.measure.fingerprint import collect_fingerprint

    plan = GatePlan(looks=scenario.gate.looks, alpha=scenario.gate.alpha)
    try:
        run = run_gate(
            scenario, arms, out, plan=plan, seed=args.seed, max_reruns=args.max_reruns, before_pair=before_pair
        )
    except GateError as exc:
        print(f"harness gate: the gate could not decide: {exc}", file=sys.stderr)
        return 1
    if not any(arm.pids for arm in arms.values()):
        notes.append("server CPU per message not measured: no --baseline-pid/--candidate-pid given")
    doc = build_gate_document(
        gate_id=run.gate_id,
        scenario=scenario.to_dict(),
        metric=scenario.gate.metric,
        trial_s=scenario.gate.trial_s,
        arms=arm_docs(),
        plan=plan,
        rules=gate_rules(scenario),
        loss_budget=scenario.gate.loss,
        sequential=run.sequential,
        trials=run.trials,
        first_arm=run.first_arm,
        seed=args.seed,
        disturbance=DISTURBANCE,
        reruns=run.reruns,
        wall_s=run.wall_s,
        fingerprint=collect_fingerprint(seed=args.seed, argv=list(sys.argv)),
        inconclusive_passes=args.inconclusive == "pass",
        notes=notes,
    )
    return _finish(doc, out)


def _run_targets(args: argparse.Namespace) -> int:
    from harness.gate.trial import Arm
    from harness.results.document import default_out_dir

    try:
        scenario = _gate_scenario(args)
    except ValueError as exc:
        return _usage(str(exc))
    arms = {
        "baseline": Arm("baseline", args.baseline_target, args.baseline_credentials, tuple(args.baseline_pid)),
        "candidate": Arm("candidate", args.candidate_target, args.candidate_credentials, tuple(args.candidate_pid)),
    }
    if bool(args.baseline_pid) != bool(args.candidate_pid):
        return _usage("give --baseline-pid and --candidate-pid both or neither (CPU is compared between the arms)")
    out = args.out or default_out_dir(f"gate-{scenario.name}")
    out.mkdir(parents=True, exist_ok=True)

    def arm_docs() -> dict[str, dict[str, Any]]:
        return {
            name: {"label": arm.url, "url": arm.url, "pids": list(arm.pids), "revision": None}
            for name, arm in arms.items()
        }

    notes = ["targets: the servers were not restarted between trials (the harness did not start them)"]
    return _measure_and_judge(args, scenario, arms, arm_docs, notes, out)


def _environment_pairs(values: list[str], flag: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"{flag} {value!r}: expected NAME=VALUE with NAME a variable name")
        pairs.append((name, setting))
    return tuple(pairs)


def _run_revisions(args: argparse.Namespace) -> int:
    from harness.gate.trial import Arm
    from harness.results.document import default_out_dir
    from harness.run.plan import Cell, stack_config
    from harness.stack.revision import RevisionError, build_revision, repository_root, resolve_revision
    from harness.stack.stack import Stack, StackError

    try:
        scenario = _gate_scenario(args)
        if scenario.generic:
            raise ValueError(
                f"scenario {scenario.name!r} is generic (any server, given as a URL); with --baseline the harness "
                "starts the reference app, so use a reference-app scenario such as gate-chat, or "
                "--baseline-target/--candidate-target"
            )
        extra = {
            "baseline": _environment_pairs(args.baseline_env, "--baseline-env"),
            "candidate": _environment_pairs(args.candidate_env, "--candidate-env"),
        }
        cell = Cell(
            args.server or scenario.matrix.servers[0],
            args.layer or scenario.matrix.layers[0],
            args.workers or scenario.matrix.workers[0],
        )
        configs = {
            name: dataclasses.replace(stack_config(scenario, cell), extra_env=extra[name])
            for name in ("baseline", "candidate")
        }
        for config in configs.values():
            config.check()
    except (ValueError, StackError) as exc:
        return _usage(str(exc))
    out = args.out or default_out_dir(f"gate-{scenario.name}")
    try:
        repo = repository_root(args.repo)
        revisions = {
            "baseline": resolve_revision(repo, args.baseline),
            "candidate": resolve_revision(repo, args.candidate),
        }
    except RevisionError as exc:
        return _usage(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    envs = args.envs or out / "envs"
    built = {}
    for name, revision in revisions.items():
        print(f"[gate] building the {name}: {revision.label}", file=sys.stderr, flush=True)
        try:
            built[name] = build_revision(repo, revision, envs, reuse=args.envs is not None)
        except RevisionError as exc:
            print(f"harness gate: the gate could not build the {name}: {exc}", file=sys.stderr)
            return 1
        state = "reused" if built[name].reused else f"built in {built[name].build_s:.0f} s"
        print(f"[gate] {name} {state}: {built[name].python}", file=sys.stderr, flush=True)
    stacks = {
        name: Stack(dataclasses.replace(configs[name], python=built[name].python), run_dir=out / "arms" / name)
        for name in revisions
    }
    arms: dict[str, Arm] = {}

    def refresh_arms() -> None:
        for name, stack in stacks.items():
            pids = [*stack.server_pids, *([stack.worker.pid] if stack.worker else [])]
            arms[name] = Arm(name, stack.ws_url, stack.credentials_path, tuple(pids), revisions[name].label)

    def before_pair(pair: int) -> None:
        for stack in stacks.values():
            stack.restart_servers()
        refresh_arms()

    def arm_docs() -> dict[str, dict[str, Any]]:
        return {
            name: {
                "label": revisions[name].label,
                "url": arms[name].url,
                "pids": list(arms[name].pids),
                "revision": revisions[name].identity,
                "build": built[name].to_dict(),
                "environment": dict(configs[name].extra_env),
            }
            for name in revisions
        }

    try:
        for stack in stacks.values():
            stack.start()
        refresh_arms()
        notes = [
            f"revisions: each arm's {configs['baseline'].server} servers were restarted before every pair (fresh "
            "processes on the same database), so a pair's trials do not inherit the previous pair's process state",
        ]
        if revisions["baseline"].commit == revisions["candidate"].commit and not revisions["candidate"].dirty:
            notes.append("both arms run the same commit (an A/A gate)")
        return _measure_and_judge(args, scenario, arms, arm_docs, notes, out, before_pair)
    except StackError as exc:
        print(f"harness gate: the gate could not start a stack: {exc}", file=sys.stderr)
        return 1
    finally:
        for stack in stacks.values():
            stack.stop()


def _rejudge(args: argparse.Namespace) -> int:
    from harness.gate.decision import GatePlan
    from harness.gate.document import GateDocumentError, build_gate_document, read_gate_document, recorded_judging
    from harness.gate.runner import gate_rules, sequential_from_trials
    from harness.gate.trial import DISTURBANCE, Trial
    from harness.measure.fingerprint import collect_fingerprint
    from harness.results.document import default_out_dir
    from harness.scenario import ScenarioError

    try:
        base_doc = read_gate_document(args.baseline_result)
        cand_doc = read_gate_document(args.candidate_result)
    except GateDocumentError as exc:
        return _usage(str(exc))
    if args.scenario:
        try:
            scenario = _scenario(args)
        except ScenarioError as exc:
            return _usage(str(exc))
        rules = gate_rules(scenario)
        plan = GatePlan(looks=scenario.gate.looks, alpha=scenario.gate.alpha)
        loss_budget, scenario_doc = scenario.gate.loss, scenario.to_dict()
        metric, trial_s = scenario.gate.metric, scenario.gate.trial_s
    else:
        # Judged as recorded: the baseline run's rules, plan and budget.
        rules, plan, loss_budget = recorded_judging(base_doc)
        scenario_doc = base_doc["scenario"]
        metric, trial_s = str(base_doc["plan"]["metric"]), float(base_doc["plan"]["trial_s"])
    for doc, arm in ((base_doc, "baseline"), (cand_doc, "candidate")):
        if doc["plan"]["metric"] != metric:
            return _usage(f"the recorded {arm} trials measured {doc['plan']['metric']}, not {metric}")
    trials = [Trial.from_dict(t) for t in base_doc["trials"] if t["arm"] == "baseline"]
    trials += [Trial.from_dict(t) for t in cand_doc["trials"] if t["arm"] == "candidate"]
    same = args.baseline_result.resolve() == args.candidate_result.resolve()
    notes = (
        []
        if same
        else [
            "re-judged across two gate runs: their pairs were not interleaved in time, so a drift of the machine "
            "between the runs counts as a difference between the arms"
        ]
    )
    sequential = sequential_from_trials(trials, rules, plan, loss_budget)
    if sequential.final is None:
        usable = sum(1 for t in trials if t.pair > 0 and t.usable) // 2
        print(
            f"harness gate: the recorded trials ({usable} usable pairs) end before the decision does "
            f"(looks at {list(plan.looks)} pairs{', confirmation included' if plan.confirm else ''})",
            file=sys.stderr,
        )
        return 1
    out = args.out or default_out_dir(f"gate-{scenario_doc['name']}-rejudged")
    out.mkdir(parents=True, exist_ok=True)
    doc = build_gate_document(
        gate_id=str(cand_doc["gate_id"]) + "-rejudged",
        scenario=scenario_doc,
        metric=metric,
        trial_s=trial_s,
        arms={"baseline": base_doc["arms"]["baseline"], "candidate": cand_doc["arms"]["candidate"]},
        plan=plan,
        rules=rules,
        loss_budget=loss_budget,
        sequential=sequential,
        trials=trials,
        first_arm=str(base_doc["plan"]["first_arm"]),
        seed=int(base_doc["plan"]["seed"]),
        disturbance=DISTURBANCE,
        reruns=int(base_doc["reruns"]) + (0 if same else int(cand_doc["reruns"])),
        wall_s=0.0,
        fingerprint=collect_fingerprint(seed=int(base_doc["plan"]["seed"]), argv=list(sys.argv)),
        inconclusive_passes=args.inconclusive == "pass",
        notes=notes,
        rejudged_from=[str(args.baseline_result), str(args.candidate_result)],
    )
    return _finish(doc, out)
