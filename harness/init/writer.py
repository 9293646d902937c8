"""The starting ``app`` scenario ``harness init`` writes: TOML text, checked by the scenario parser before use."""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections.abc import Sequence
from typing import Any, Final

from harness.init.infer import Inference
from harness.scenario import Scenario, parse_scenario

__all__ = ["scenario_text", "toml_value"]

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(value: Any) -> str:
    """``value`` (from JSON) as a TOML value: strings as basic strings, tables inline.

    Raises:
        ValueError: for a JSON null, which TOML cannot hold.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except that TOML wants \u escapes for DEL as well.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{k if _BARE_KEY.match(k) else json.dumps(k)} = {toml_value(v)}" for k, v in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise ValueError(f"TOML has no value for {value!r}")


def scenario_text(
    *,
    name: str,
    target: str,
    path: str,
    origin: str | None,
    send_json: Any,
    send_text: str | None,
    inference: Inference,
    rooms: bool,
    login: tuple[str, str, str] | None = None,
) -> tuple[str, Scenario]:
    """The scenario file's text and the scenario it parses to (so a file that would not load is never written);
    ``login``: (login path, username, the environment variable of the password), for an ``[app.auth]``.

    Raises:
        ValueError: if the inference decided no fan-out (nothing to write).
        ScenarioError: if the text does not parse: a bug, named as such by the caller.
    """
    if inference.fanout_to is None:
        raise ValueError("no fan-out was inferred: nothing to write")
    if send_json is not None:
        try:
            send = f"json = {toml_value(send_json)}"
        except ValueError:
            # JSON null: send the serialized JSON as a text template instead (braces doubled, placeholders kept).
            text = json.dumps(send_json, ensure_ascii=False)
            send = f"text = {toml_value(_escape_braces(text))}"
    else:
        send = f"text = {toml_value(send_text)}"
    lines = [
        f"# Written by harness init on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from {target}.",
        "# What the app was seen to do:",
        *(f"#   {line}" for line in _evidence(inference)),
        "# Check the load and the objectives before you trust a figure: they are a starting point.",
        f"name = {toml_value(name)}",
        f"description = {toml_value(f'Starting scenario for {target}, written by harness init.')}",
        'kind = "app"',
        "duration_s = 30",
        "seed = 1",
        "",
        "[load]",
        "users = 20",
        *(["room_size = 10"] if rooms else []),
        'arrival = "poisson"',
        "rate = 0.5",
        "",
        "[app]",
        f"path = {toml_value(path)}",
        *([f"origin = {toml_value(origin)}"] if origin else []),
        "",
        *(
            [
                "[app.auth]",
                f"login_path = {toml_value(login[0])}",
                f"username = {toml_value(login[1].replace('{', '{{').replace('}', '}}'))}",
                '# every user logs in as it: use user{n}, or credentials = "users.csv", for an account each',
                f"password = {toml_value('{env.' + login[2] + '}')}",
                "",
            ]
            if login
            else []
        ),
        "[app.send]",
        send,
        "",
        "[app.fanout]",
        f"to = {toml_value(inference.fanout_to)}",
        f"include_sender = {toml_value(inference.include_sender)}",
        f"first_seen = {toml_value(inference.first_seen)}",
        "",
        "[[slos]]",
        'metric = "response_time"',
        'statistic = "p99"',
        "limit_ms = 250",
        "",
        "[[slos]]",
        "max_lost_ratio = 0",
        "",
    ]
    text = "\n".join(lines)
    return text, parse_scenario(tomllib.loads(text), where="the file harness init wrote")


def _escape_braces(text: str) -> str:
    """``text`` as a message template: literal braces doubled, ``{token}``, ``{user}`` and ``{room}`` kept."""
    doubled = text.replace("{", "{{").replace("}", "}}")
    for name in ("token", "user", "room"):
        doubled = doubled.replace("{{" + name + "}}", "{" + name + "}")
    return doubled


def _evidence(inference: Inference) -> Sequence[str]:
    found = [f"the token came back in {', '.join(inference.fields[:3])}"] if inference.fields else []
    return [*found, *inference.evidence, *(f"not sure: {p}" for p in inference.problems)]
