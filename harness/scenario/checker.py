"""Turning raw TOML values into typed ones, with messages that name the file, the key and the expected form."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

__all__ = ["ScenarioError"]


class ScenarioError(ValueError):
    """A scenario file is missing, not TOML, or does not follow the scenario format (docs/scenarios.md)."""


def _show(value: Any) -> str:
    """Render a bad value the way it would look in TOML/JSON, so the message shows what the user wrote."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class _Checker:
    """Collects the file name for messages and turns raw TOML values into typed ones."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.where}: {key}: {message}")

    def expected(self, key: str, form: str, value: Any) -> ScenarioError:
        return self.fail(key, f"expected {form}, got {_show(value)}")

    def keys(self, table: Mapping[str, Any], prefix: str, required: Sequence[str], optional: Sequence[str]) -> None:
        accepted = sorted({*required, *optional})
        unknown = sorted(set(table) - set(accepted))
        if unknown:
            names = ", ".join(unknown)
            noun = "key" if len(unknown) == 1 else "keys"
            raise self.fail(prefix or "(top level)", f"unknown {noun} {names}; accepted: {', '.join(accepted)}")
        for key in required:
            if key not in table:
                raise self.fail(_join(prefix, key), "missing; this key is required")

    def table(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.expected(key, "a table", value)
        return cast(Mapping[str, Any], value)

    def string(self, value: Any, key: str, *, pattern: re.Pattern[str] | None = None, form: str = "a string") -> str:
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise self.expected(key, form, value)
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.expected(key, "true or false", value)
        return value

    def integer(self, value: Any, key: str, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.expected(key, f"an integer >= {minimum}", value)
        return value

    def number(self, value: Any, key: str, *, minimum: float, inclusive: bool) -> float:
        ok = (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and math.isfinite(value)
            and (value >= minimum if inclusive else value > minimum)
        )
        if not ok:
            op = ">=" if inclusive else ">"
            raise self.expected(key, f"a number {op} {minimum:g}", value)
        return float(value)

    def choice(self, value: Any, key: str, choices: Sequence[str]) -> str:
        if not isinstance(value, str) or value not in choices:
            raise self.expected(key, f"one of {', '.join(choices)}", value)
        return value

    def array(self, value: Any, key: str, form: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.expected(key, f"a non-empty array of {form}", value)
        return value


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


_T = TypeVar("_T")


def _opt(table: Mapping[str, Any], key: str, default: _T, convert: Callable[[Any], _T]) -> _T:
    return convert(table[key]) if key in table else default
