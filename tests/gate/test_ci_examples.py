"""The example CI definitions in docs/ci/ are valid YAML and call `harness gate` with arguments it accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser
from harness.scenario import load_named

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _commands(node: Any, shell: bool = False) -> list[str]:
    """The `harness` command lines of the shell scripts (GitHub's ``run``, GitLab's ``script``) in a definition."""
    if isinstance(node, str):
        return [line.strip() for line in node.splitlines() if shell and line.strip().startswith("harness ")]
    if isinstance(node, dict):
        return [c for key, value in node.items() for c in _commands(value, shell or key in ("run", "script"))]
    if isinstance(node, list):
        return [c for value in node for c in _commands(value, shell)]
    return []


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_example_runs_a_gate_the_cli_accepts_and_keeps_its_files(name: str) -> None:
    text = (DOCS / "ci" / name).read_text()
    definition = yaml.safe_load(text)
    (command,) = _commands(definition)
    # Shell variables stand for a commit the CI system provides.
    argv = shlex.split(re.sub(r'"\$\{?[A-Za-z_]+\}?"', "0123abcd", command))[1:]
    args = build_parser().parse_args(argv)
    assert args.command == "gate" and args.baseline == "0123abcd" and args.candidate is None
    assert load_named(args.scenario).gate is not None
    for kept in ("summary.md", "junit.xml", "gate.json", "report.html"):
        assert f"{args.out}/{kept}" in text, f"{name} does not keep {kept}"
    assert name in (DOCS / "ci.md").read_text()
