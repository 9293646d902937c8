"""Revision mode: git revisions resolved and built into environments of their own, stacks restarted per pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.cli import main
from harness.stack import revision as revision_module
from harness.stack.network import http_get_json
from harness.stack.revision import (
    WORKING_TREE,
    RevisionError,
    build_revision,
    repository_root,
    resolve_revision,
)
from harness.stack.stack import Stack, StackConfig

ROOT = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "gate@example.invalid")
    _git(repo, "config", "user.name", "gate")
    (repo / "app.py").write_text("COST = 1\n")
    _git(repo, "add", "app.py")
    _git(repo, "commit", "-q", "-m", "one")
    (repo / "app.py").write_text("COST = 2\n")
    _git(repo, "commit", "-q", "-am", "two")
    return repo


def test_refs_resolve_to_commits_and_the_working_tree_knows_its_changes(repo: Path) -> None:
    head, first = _git(repo, "rev-parse", "HEAD"), _git(repo, "rev-parse", "HEAD~1")
    assert resolve_revision(repo, "HEAD~1").commit == first
    assert resolve_revision(repo, "main").commit == head
    clean = resolve_revision(repo, None)
    assert (clean.ref, clean.commit, clean.dirty) == (WORKING_TREE, head, False)
    assert clean.identity == head
    (repo / "notes.txt").write_text("untracked files are not part of a build\n")
    assert not resolve_revision(repo, None).dirty
    (repo / "app.py").write_text("COST = 3\n")
    changed = resolve_revision(repo, None)
    assert changed.dirty and changed.identity == head + "+changes"
    assert "uncommitted changes" in changed.label
    assert repository_root(repo / ".git" / "..") == repo.resolve()
    with pytest.raises(RevisionError, match=r"'nope' names no commit in .*try a branch, a tag or a SHA"):
        resolve_revision(repo, "nope")
    with pytest.raises(RevisionError, match="is not a git revision"):
        resolve_revision(repo, "--all")


def test_a_commit_is_built_from_its_own_worktree_and_reused_the_working_tree_never(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[list[str]] = []
    sources: list[str] = []

    def fake_step(argv: list[str], log: Path, what: str) -> None:
        steps.append(argv)
        if argv[1:3] == ["-m", "venv"]:
            python = Path(argv[3]) / "bin" / "python"
            python.parent.mkdir(parents=True)
            python.write_text("")
        else:
            # The install reads the revision's files: the first commit's worktree, or the checkout itself.
            source = Path(argv[-1])
            sources.append((source / "app.py").read_text())

    monkeypatch.setattr(revision_module, "_step", fake_step)
    envs = tmp_path / "envs"
    first = resolve_revision(repo, "HEAD~1")
    built = build_revision(repo, first, envs, reuse=True)
    assert not built.reused and built.python.endswith("venv/bin/python") and sources == ["COST = 1\n"]
    # The worktree is gone once installed, and git no longer lists it.
    assert not (built.directory / "src").exists()
    assert _git(repo, "worktree", "list").count("\n") == 0
    assert json.loads((built.directory / "built.json").read_text())["commit"] == first.commit
    again = build_revision(repo, first, envs, reuse=True)
    assert again.reused and again.python == built.python and len(steps) == 2
    assert not build_revision(repo, first, envs, reuse=False).reused
    (repo / "app.py").write_text("COST = 3\n")
    tree = resolve_revision(repo, None)
    for _ in range(2):
        assert not build_revision(repo, tree, envs, reuse=True).reused
    assert sources == ["COST = 1\n", "COST = 1\n", "COST = 3\n", "COST = 3\n"]


def test_a_failed_step_names_itself_and_shows_the_end_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(RevisionError, match=r"could not install main \(exit 3\); .*build.log ends with:\n.*no such"):
        revision_module._step(
            [sys.executable, "-c", "print('ERROR: no such distribution'); raise SystemExit(3)"], log, "install main"
        )


def test_a_stack_with_its_own_interpreter_runs_outside_the_checkout_and_restarts_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "another-checkout"))
    config = StackConfig(
        server="uvicorn",
        users=2,
        rooms=1,
        employees=2,
        terminals=1,
        python=sys.executable,
        extra_env=(("REFERENCE_APP_TEST_ONLY_CHAT_CPU_US", "7"),),
    )
    with Stack(config, tmp_path / "stack") as stack:
        (first,) = stack.server_pids
        process = psutil.Process(first)
        assert process.environ()["REFERENCE_APP_TEST_ONLY_CHAT_CPU_US"] == "7"
        assert Path(process.cwd()) == tmp_path / "stack"
        assert "PYTHONPATH" not in process.environ()
        stack.restart_servers()
        (second,) = stack.server_pids
        assert second != first and not psutil.pid_exists(first) or psutil.Process(first).status() == "zombie"
        assert http_get_json("127.0.0.1", stack.port, "/healthz")[0] == 200
        assert psutil.Process(second).environ()["REFERENCE_APP_TEST_ONLY_CHAT_CPU_US"] == "7"


def _prebuilt(envs: Path, commit: str) -> None:
    """An environment marked built for ``commit``: the interpreter running the tests, whose code is this checkout."""
    directory = envs / f"{commit[:16]}-py{sys.version_info.major}{sys.version_info.minor}"
    (directory / "venv" / "bin").mkdir(parents=True)
    python = directory / "venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (directory / "built.json").write_text(json.dumps({"commit": commit}))


def test_two_revisions_gate_end_to_end_with_fresh_servers_every_pair(tmp_path: Path) -> None:
    head = _git(ROOT, "rev-parse", "HEAD")
    envs = tmp_path / "envs"
    _prebuilt(envs, head)
    scenario = tmp_path / "tiny-gate.toml"
    text = (ROOT / "scenarios" / "gate-chat.toml").read_text()
    scenario.write_text(text.replace('name = "gate-chat"', 'name = "tiny-gate"').replace("[8, 12, 16]", "[2]"))
    out = tmp_path / "gate"
    code = main(
        [
            "gate",
            "--scenario",
            str(scenario),
            "--baseline",
            "HEAD",
            "--candidate",
            head,
            "--repo",
            str(ROOT),
            "--envs",
            str(envs),
            "--trial-s",
            "1",
            "--candidate-env",
            "REFERENCE_APP_TEST_ONLY_CHAT_CPU_US=0",
            "--out",
            str(out),
        ]
    )
    # Two pairs can never be significant (the smallest exact p is 0.25), so never a regression.
    assert code in (0, 4)
    doc = json.loads((out / "gate.json").read_text())
    for name in ("baseline", "candidate"):
        arm = doc["arms"][name]
        assert arm["revision"] == head and arm["build"]["reused"] and arm["pids"]
        # Started once, then once more before each of the 2 pairs.
        log = (out / "arms" / name / "uvicorn.log").read_text()
        assert log.count("Application startup complete") == 3
    assert doc["arms"]["candidate"]["environment"] == {"REFERENCE_APP_TEST_ONLY_CHAT_CPU_US": "0"}
    assert doc["arms"]["baseline"]["environment"] == {}
    assert any("A/A" in note for note in doc["notes"])
    assert {t["pair"] for t in doc["trials"]} == {0, 1, 2}
    assert all(t["figures"].get("cpu_per_message", 0) > 0 for t in doc["trials"])
    assert (out / "report.html").read_text().count(": per-pair ratio</h3>") == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--baseline", "HEAD"], "--scenario is required with --baseline"),
        (["--candidate", "HEAD", "--scenario", "gate-chat"], "--candidate needs --baseline"),
        (["--baseline", "HEAD", "--scenario", "gate-echo"], "is generic"),
        (["--baseline", "no-such-ref-anywhere", "--scenario", "gate-chat"], "names no commit"),
        (["--baseline", "HEAD", "--scenario", "gate-chat", "--candidate-env", "=1"], "expected NAME=VALUE"),
        (["--baseline", "HEAD", "--scenario", "gate-chat", "--layer", "postgres"], "unknown layer"),
        (
            ["--baseline-target", "ws://a", "--candidate-target", "ws://b", "--scenario", "gate-echo", "--envs", "x"],
            "--envs only apply to --baseline/--candidate",
        ),
        (["--baseline", "HEAD", "--baseline-target", "ws://a"], "give one of"),
    ],
)
def test_revision_mode_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert main(["gate", *argv]) == 2
    finally:
        os.chdir(cwd)
    assert message in capsys.readouterr().err
