"""Every option of every harness command explains itself in --help."""

from __future__ import annotations

import argparse

from harness.cli import build_parser


def test_every_option_of_every_command_has_help_text() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [
        f"harness {name} {'/'.join(action.option_strings) or action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert sub.choices.keys() >= {"serve", "run", "conform", "gate", "capacity"}
    assert missing == []
