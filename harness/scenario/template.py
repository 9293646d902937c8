"""Message templates: text with ``{name}`` placeholders, compiled once and filled per message.

``{{`` and ``}}`` are literal braces. Which names a template may use depends on where it is (the placeholder sets
below); ``{env.NAME}`` stands for any environment variable, read where the template is filled. A JSON message is a
TOML table or array whose strings are templates: :func:`json_template` serializes it once and fills its slots per
message, escaped for JSON. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "AUTH_PLACEHOLDERS",
    "MESSAGE_PLACEHOLDERS",
    "PATH_PLACEHOLDERS",
    "STEP_PLACEHOLDERS",
    "Template",
    "TemplateError",
    "header_templates",
    "json_key",
    "key_of",
    "json_template",
    "per_send_values",
]

#: ``env.NAME`` stands for every ``env.`` followed by an environment variable's name.
PATH_PLACEHOLDERS: Final = ("room", "user", "env.NAME")
MESSAGE_PLACEHOLDERS: Final = ("token", "room", "user", "seq", "sent_at", "uuid", "env.NAME")
#: ``{n}``: the user's number (``{user}`` is ``u`` and it), for account names such as ``user{n}``.
AUTH_PLACEHOLDERS: Final = ("user", "n", "env.NAME")
_ENV_NAME: Final = re.compile(r"^env\.[A-Za-z_][A-Za-z0-9_]*$")

_PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
# Stands for a placeholder inside a JSON message while it is serialized: NUL never comes out of a TOML string
# unescaped, and JSON writes it as \u0000, which cannot occur in the serialized text otherwise.
_MARK: Final = "\x00"
_MARKED: Final = re.compile(r"\\u0000([0-9]+)\\u0000")


#: What a step's templates may name: nothing of a message (no token yet), the user's own names.
STEP_PLACEHOLDERS: Final = ("room", "user", "env.NAME")


class TemplateError(ValueError):
    """A template names a placeholder it may not use, or has a lone brace; or an app protocol is inconsistent.

    Attributes:
        key: the scenario key at fault (``[app].path``), or "" when the message names it.
    """

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    escape: Callable[[str], str] | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A text with placeholders, compiled: literal strings and slots, in order."""

    parts: tuple[str | _Slot, ...]

    @classmethod
    def compile(cls, text: str, allowed: tuple[str, ...]) -> Template:
        """Compile ``text``; raises :class:`TemplateError` naming the first problem and the allowed names."""
        parts: list[str | _Slot] = []
        last = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(text[last : match.start()])
            last = match.end()
            whole, name = match.group(0), match.group(1)
            if whole in ("{{", "}}"):
                parts.append(whole[0])
            elif name is None:
                raise TemplateError(
                    f"a lone {whole!r} at character {match.start()} of {text!r}: write {whole * 2} for a literal brace"
                )
            elif not (name in allowed or ("env.NAME" in allowed and _ENV_NAME.match(name))):
                raise TemplateError(f"{{{name}}} is not a placeholder here; expected {_names(allowed)}")
            else:
                parts.append(_Slot(name))
        parts.append(text[last:])
        return cls(_merge(parts))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, _Slot))

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The values of this template's ``{env.NAME}`` slots in ``env``.

        Raises:
            TemplateError: naming a variable that is not set.
        """
        wanted = sorted(name for name in self.names if name.startswith("env."))
        missing = [name[4:] for name in wanted if name[4:] not in env]
        if missing:
            raise TemplateError(f"the environment variable {missing[0]} ({{env.{missing[0]}}}) is not set")
        return {name: env[name[4:]] for name in wanted}

    def fill(self, values: Mapping[str, str]) -> Template:
        """The template with the slots named in ``values`` filled (each escaped as its slot says), the others kept."""
        parts = [
            (p.escape(values[p.name]) if p.escape else values[p.name])
            if isinstance(p, _Slot) and p.name in values
            else p
            for p in self.parts
        ]
        return Template(_merge(parts))

    def render(self, values: Mapping[str, str]) -> str:
        """The text with every slot filled; raises KeyError for a slot ``values`` does not name."""
        return "".join(p if isinstance(p, str) else (p.escape or str)(values[p.name]) for p in self.parts)


def header_templates(headers: Mapping[str, str], allowed: tuple[str, ...], key: str) -> dict[str, Template]:
    templates = {}
    for name, value in headers.items():
        try:
            templates[name] = Template.compile(value, allowed)
        except TemplateError as exc:
            raise TemplateError(f"{name}: {exc}", key) from None
    return templates


def per_send_values(seq: int) -> dict[str, str]:
    """The per-message placeholders other than the token: ``{seq}``, ``{sent_at}`` and ``{uuid}``."""
    now = dt.datetime.now(dt.UTC)
    return {"seq": str(seq), "sent_at": now.isoformat(timespec="milliseconds"), "uuid": str(uuid.uuid4())}


def _merge(parts: list[str | _Slot]) -> tuple[str | _Slot, ...]:
    merged: list[str | _Slot] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += part
                continue
        merged.append(part)
    return tuple(merged)


def _names(allowed: tuple[str, ...]) -> str:
    return ", ".join(f"{{{name}}}" for name in allowed)


def _json_string_body(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def json_template(value: Any, where: str = "json", allowed: tuple[str, ...] = MESSAGE_PLACEHOLDERS) -> Template:
    """A JSON message template: ``value``'s strings compiled, then the whole serialized once.

    Raises:
        TemplateError: naming the string's place in ``value`` (``json.message``).
    """
    slots: list[_Slot] = []

    def mark(node: Any, at: str) -> Any:
        if isinstance(node, str):
            try:
                template = Template.compile(node, allowed)
            except TemplateError as exc:
                raise TemplateError(f"{at}: {exc}") from None
            out = []
            for part in template.parts:
                if isinstance(part, str):
                    out.append(part)
                else:
                    out.append(f"{_MARK}{len(slots)}{_MARK}")
                    slots.append(_Slot(part.name, _json_string_body))
            return "".join(out)
        if isinstance(node, Mapping):
            return {str(k): mark(v, f"{at}.{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [mark(v, f"{at}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, bool | int | float) or node is None:
            return node
        raise TemplateError(f"{at}: {type(node).__name__} values cannot be sent as JSON")

    text = json.dumps(mark(value, where), ensure_ascii=False, separators=(",", ":"))
    parts: list[str | _Slot] = []
    last = 0
    for match in _MARKED.finditer(text):
        parts.append(text[last : match.start()])
        parts.append(slots[int(match.group(1))])
        last = match.end()
    parts.append(text[last:])
    return Template(_merge(parts))


def json_key(frame: str, key: str) -> Any:
    """The value at the dotted ``key`` of ``frame`` when it is a JSON object, else None."""
    try:
        doc: Any = json.loads(frame)
    except ValueError:
        return None
    return key_of(doc, key)


def key_of(doc: Any, key: str) -> Any:
    """The value at the dotted ``key`` of an already parsed JSON ``doc``, else None."""
    node = doc
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
