"""Command-line overrides of scenario keys: ``--set load.room_size=50``, ``--duration 20``, ``--users 200`` …

Locust and k6 users change a run's length, users and rate on the command line without editing a file. Here every
override is applied to the scenario's TOML document *before* it is validated, so an override is checked exactly
like the file (the same message for ``--set load.rate=fast`` as for ``rate = "fast"`` in the file, naming the
override), and the scenario records the overrides it was given (``Scenario.overrides``, in ``result.json``'s
``config.scenario``).

A key is a dotted path into the document: table keys, and indexes counted from 0 into arrays of tables
(``slos.0.limit_ms``). A value is read as a TOML value (``50``, ``0.5``, ``true``, ``"text"``, ``["uvicorn"]``);
anything that is not one and does not start like one is taken as a bare string (``--set description=my run``).
"""

from __future__ import annotations

import argparse
import copy
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.scenario.checker import ScenarioError, _show

__all__ = ["SHORTHANDS", "Override", "add_override_options", "apply_overrides", "overrides_of", "parse_override"]

#: The one table of shorthand options: option name -> the scenario key it sets.
SHORTHANDS: Final[Mapping[str, tuple[str, str]]] = {
    "duration": ("duration_s", "Seconds of the measurement window (sets duration_s)."),
    "users": ("load.users", "Simulated users, each with its connection (sets load.users)."),
    "rate": ("load.rate", "Messages per second per user, or as the scenario's kind defines it (sets load.rate)."),
    "seed": ("seed", "Seed of every random choice, so that a run can be repeated (sets seed)."),
}

_SEGMENT: Final = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_-]*|[0-9]+)$")
# A value that starts like one of these is meant as TOML: it must parse, or the override is refused.
_TOML_START: Final = re.compile(r"^\s*(?:[\[{\"'+\-.0-9]|true\b|false\b|inf\b|nan\b)")


@dataclass(frozen=True, slots=True)
class Override:
    """One ``KEY=VALUE`` override.

    Attributes:
        path: the key's parts: table keys (str) and array indexes (int).
        value: the parsed value.
        text: the override as ``KEY=VALUE`` (``load.room_size=50``), as the scenario records it.
        given: how it was given, for messages (``--set load.room_size=50``, ``--users 50``).
    """

    path: tuple[str | int, ...]
    value: Any
    text: str
    given: str


def parse_override(text: str, *, given: str | None = None) -> Override:
    """Parse ``KEY=VALUE``; ``given`` is how the user wrote it (default ``--set KEY=VALUE``).

    Raises:
        ScenarioError: naming how it was given, if the key or the value is malformed.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    where = given or f"--set {text}"
    if not sep or not key:
        raise ScenarioError(f"{where}: expected KEY=VALUE, e.g. load.room_size=50")
    parts = key.split(".")
    bad = [p for p in parts if not _SEGMENT.match(p)]
    if bad:
        raise ScenarioError(
            f"{where}: key {_show(key)}: expected dotted names and array indexes such as load.room_size or "
            f"slos.0.limit_ms, got the part {_show(bad[0])}"
        )
    if "\n" in raw or "\r" in raw:
        raise ScenarioError(f"{where}: a value must be on one line")
    if not raw.strip():
        raise ScenarioError(f"{where}: no value after '='")
    path = tuple(int(p) if p.isdigit() else p for p in parts)
    if isinstance(path[0], int):
        raise ScenarioError(f"{where}: key {_show(key)}: must start with a name, not an index")
    return Override(path, _value(raw, where), f"{key}={raw.strip()}", where)


def _value(raw: str, where: str) -> Any:
    try:
        parsed = tomllib.loads(f"value = {raw}")
    except tomllib.TOMLDecodeError:
        if _TOML_START.match(raw):
            # tomllib's position would point into the line built above, not into what the user typed.
            raise ScenarioError(
                f"{where}: {_show(raw.strip())} is not a TOML value; strings inside arrays and tables need quotes, "
                'e.g. ["uvicorn", "daphne"]'
            ) from None
        return raw.strip()
    return parsed["value"]


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[Override]) -> dict[str, Any]:
    """A copy of the TOML document ``data`` with ``overrides`` applied in order (a later one wins).

    Missing tables on the way are created (the scenario's validation then refuses keys it does not know); an
    array index must exist.

    Raises:
        ScenarioError: if a key passes through a value that is neither a table nor an array, or an index is out
            of range.
    """
    doc = copy.deepcopy(dict(data))
    for override in overrides:
        node: Any = doc
        walked: list[str] = []
        for i, part in enumerate(override.path):
            last = i == len(override.path) - 1
            here = ".".join(walked) or "(top level)"
            if isinstance(part, int):
                if not isinstance(node, list):
                    raise ScenarioError(
                        f"{override.given}: {here} is {_show(node)}, not an array, so [{part}] cannot index it"
                    )
                if not 0 <= part < len(node):
                    raise ScenarioError(
                        f"{override.given}: {here} has {len(node)} entries (indexes 0 to {len(node) - 1}); "
                        f"there is no {part}"
                    )
            elif not isinstance(node, dict):
                raise ScenarioError(f"{override.given}: {here} is {_show(node)}, not a table")
            if last:
                node[part] = override.value
            else:
                if isinstance(node, dict) and part not in node:
                    node[part] = {}
                node = node[part]
            walked.append(str(part))
    return doc


def add_override_options(parser: argparse.ArgumentParser, *, shorthands: bool = True) -> None:
    """``--set KEY=VALUE`` (repeatable) and, with ``shorthands``, the :data:`SHORTHANDS` options, for a command
    that loads a scenario."""
    for name, (_, help_text) in SHORTHANDS.items() if shorthands else ():
        parser.add_argument(f"--{name}", metavar="VALUE", help=help_text, dest=f"override_{name}")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="override_set",
        help="Override any scenario key, e.g. --set load.room_size=50 or --set slos.0.limit_ms=100 (repeatable; "
        "validated like the file; applied after the shorthand options, in order).",
    )


def overrides_of(args: argparse.Namespace) -> tuple[Override, ...]:
    """The overrides given on the command line: the shorthand options first, then every ``--set`` in order.

    Raises:
        ScenarioError: if one is malformed.
    """
    given = [
        parse_override(f"{key}={value}", given=f"--{name} {value}")
        for name, (key, _) in SHORTHANDS.items()
        if (value := getattr(args, f"override_{name}", None)) is not None
    ]
    return (*given, *(parse_override(text) for text in args.override_set))
