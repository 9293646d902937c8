"""``harness init``: open a few sockets to a live app, send messages with tokens, write a starting scenario."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["add_parser", "run_command"]

_NAME_SAFE = re.compile(r"[^a-z0-9-]+")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="write a starting 'app' scenario for your own app from what it is seen to do",
        description="Open sockets to --target (two on its path; with --room a third in another room), let two of "
        "them send --send with a correlation token in place of {token}, watch who receives each token, how often "
        "and in which field, and write an 'app' scenario (docs/your-app.md) with [app.fanout] inferred and the "
        "evidence in its comments. Exit 0 when a file was written, 1 when nothing could be inferred (the reason is "
        "printed), 2 usage.",
    )
    p.add_argument(
        "--target", required=True, help="The app's WebSocket URL with its path, e.g. ws://host:8000/ws/chat/lobby/."
    )
    p.add_argument(
        "--send",
        required=True,
        help='The message each socket sends, with {token} where the app relays text: JSON (e.g. \'{"message": '
        '"{token}"}\') or any other text. {user} and {room} are filled in too.',
    )
    p.add_argument("--origin", help="Origin header of the upgrade (default: the target's own origin).")
    p.add_argument(
        "--login",
        metavar="PATH",
        help="Log in first at this form (Django's LoginView, e.g. /accounts/login/) with --username and the password "
        "in the environment variable --password-env; the file gets an [app.auth] that does the same.",
    )
    p.add_argument("--username", help="The account --login logs in as (the file's users all use it; edit it there).")
    p.add_argument(
        "--password-env",
        metavar="NAME",
        help="The environment variable that holds --login's password (never written to the file: it says {env.NAME}).",
    )
    p.add_argument(
        "--room",
        help="A segment of the target's path that names a room (e.g. lobby): it becomes {room} in the file, and a "
        "third socket joins another room to tell a room's fan-out from the whole app's.",
    )
    p.add_argument("--other-room", help="The room of the third socket (default: --room followed by 2).")
    p.add_argument(
        "--wait", type=float, default=2.0, help="Seconds to wait for frames after the last send (default 2)."
    )
    p.add_argument("--name", help="The scenario's name (default: from the path).")
    p.add_argument("--out", type=Path, help="The file to write (default: <name>.toml here).")
    p.add_argument("--force", action="store_true", help="Overwrite --out if it exists.")


def _literal(text: str) -> str:
    """``text`` as a template that means itself (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def _usage(message: str) -> int:
    print(f"harness init: error: {message}", file=sys.stderr)
    return 2


def run_command(args: argparse.Namespace) -> int:
    from harness.init.infer import infer
    from harness.init.observe import observe
    from harness.init.writer import scenario_text
    from harness.load.login import LoginFailed, form_login
    from harness.scenario import ScenarioError
    from harness.scenario.template import MESSAGE_PLACEHOLDERS, Template, TemplateError, json_template

    parts = urlsplit(args.target)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        return _usage(f"--target {args.target!r}: expected ws://host:port/path")
    if not args.wait > 0:
        return _usage(f"--wait {args.wait:g}: expected seconds > 0")
    base = f"{parts.scheme}://{parts.netloc}"
    send_json: Any = None
    send_text: str | None = None
    try:
        if args.send.lstrip().startswith(("{", "[")):
            try:
                send_json = json.loads(args.send)
            except ValueError as exc:
                return _usage(f"--send starts like JSON but is not JSON ({exc}); quote it for your shell")
            message = json_template(send_json, "--send")
        else:
            send_text = args.send
            message = Template.compile(send_text, MESSAGE_PLACEHOLDERS)
    except TemplateError as exc:
        return _usage(f"--send: {exc}")
    if "token" not in message.names:
        return _usage('--send has no {token}: put it where the app relays text, e.g. \'{"message": "{token}"}\'')
    cookies: dict[str, str] = {}
    if args.login:
        if not (args.username and args.password_env):
            return _usage("--login needs --username and --password-env")
        if args.password_env not in os.environ:
            return _usage(f"--password-env {args.password_env}: the environment variable is not set")
        if not args.login.startswith("/"):
            return _usage(f"--login {args.login!r}: expected a path starting with '/'")
        http_base = f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
        fields = {"username": args.username, "password": os.environ[args.password_env]}
        try:
            cookies = form_login(http_base, args.login, fields)
        except (LoginFailed, OSError) as exc:
            print(f"harness init: the login failed, nothing written: {exc}", file=sys.stderr)
            return 1
        print(f"logged in at {args.login} as {args.username}", flush=True)
    sockets = [("A", args.target), ("B", args.target)]
    query = f"?{_literal(parts.query)}" if parts.query else ""
    path_template = _literal(parts.path or "/") + query
    other = None
    if args.room:
        segments = parts.path.split("/")
        if args.room not in segments:
            return _usage(f"--room {args.room!r} is not a segment of the target's path {parts.path!r}")
        other = args.other_room or f"{args.room}2"
        at = segments.index(args.room)
        other_path = "/".join([*segments[:at], other, *segments[at + 1 :]])
        sockets.append(("C", base + other_path + (f"?{parts.query}" if parts.query else "")))
        path_template = "/".join([*map(_literal, segments[:at]), "{room}", *map(_literal, segments[at + 1 :])]) + query
    print(f"opening {len(sockets)} sockets: " + ", ".join(f"{n} {u}" for n, u in sockets), flush=True)
    observation = asyncio.run(
        observe(sockets, message, ["A", "B"], origin=args.origin, cookies=cookies, wait_s=args.wait)
    )
    inference = infer(observation, other_room="C" if other else None)
    for line in inference.evidence:
        print(f"  {line}")
    if inference.fields:
        print(f"  the token came back in {', '.join(inference.fields[:3])}")
    for problem in inference.problems:
        print(f"  not sure: {problem}")
    if inference.fanout_to is None:
        print("harness init: nothing written: " + "; ".join(inference.problems), file=sys.stderr)
        return 1
    name = args.name or _NAME_SAFE.sub("-", (parts.path.strip("/").split("/") or ["app"])[-1].lower()).strip("-")
    name = name or "app"
    out: Path = args.out or Path(f"{name}.toml")
    if out.exists() and not args.force:
        return _usage(f"{out} exists; give --force to overwrite it, or another --out")
    try:
        text, scenario = scenario_text(
            name=name,
            target=args.target,
            path=path_template,
            origin=args.origin,
            send_json=send_json,
            send_text=send_text,
            inference=inference,
            rooms=other is not None,
            login=(args.login, args.username, args.password_env) if args.login else None,
        )
    except ScenarioError as exc:
        print(f"harness init: the file it would write does not load, a bug: {exc}", file=sys.stderr)
        return 1
    out.write_text(text)
    assert scenario.app is not None
    app = scenario.app
    flags = f"include_sender = {str(app.include_sender).lower()}, first_seen = {str(app.first_seen).lower()}"
    print(f"wrote {out}: fanout.to = {app.fanout_to}, {flags}\nrun it: harness run --scenario {out} --target {base}")
    return 0
