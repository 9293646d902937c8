"""The ``[app]`` table of a scenario of kind ``app``: a user's own app, where each user connects, what it sends, who
must receive each message (docs/your-app.md).

:func:`parse_app` builds an :class:`AppProtocol` (and so checks every template before anything runs); the
generator gets it as JSON (``--harness-app``) and its ``AppUser`` fills the templates. Nothing here does I/O or
imports locust or gevent.

Templates and their placeholders: :mod:`harness.scenario.template`.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol, cast, get_args, runtime_checkable

from harness.scenario.checker import _Checker, _opt
from harness.scenario.template import (
    AUTH_PLACEHOLDERS,
    MESSAGE_PLACEHOLDERS,
    PATH_PLACEHOLDERS,
    STEP_PLACEHOLDERS,
    Template,
    TemplateError,
    header_templates,
    json_key,
    json_template,
    key_of,
)

__all__ = [
    "FANOUT_TO",
    "VIAS",
    "AppAdapter",
    "AppAuth",
    "AppProtocol",
    "AppStep",
    "FanoutTo",
    "Via",
    "load_adapter",
    "parse_app",
]

FanoutTo = Literal["room", "url", "sender"]
Via = Literal["socket", "http"]
VIAS: Final[tuple[Via, ...]] = get_args(Via)
FANOUT_TO: Final[tuple[FanoutTo, ...]] = get_args(FanoutTo)


@runtime_checkable
class AppAdapter(Protocol):
    """What ``[app].adapter = "package.module:Class"`` names: a small class for a protocol a file cannot express.

    The generator makes one per user, ``Class(user="u3", room="r0", n=3)``, in its own process, and calls:

    * ``message(token, seq)`` (required): the text (str) or binary (bytes) message that carries ``token``, the
      user's ``seq``-th (0, 1, …); the token must reach the receivers somewhere they can find it.
    * ``tokens(frame)`` (optional): the tokens in a received frame (str for text, bytes for binary), for a frame
      that does not hold them as they were sent (an app that echoes an integer ``request_id``: keep the token per
      id in ``message`` and give it back here). Without it, frames are searched for tokens.
    * ``group()`` (optional): who receives this user's messages, as a name: users whose adapters give the same
      name receive each other's messages (``[app.fanout].include_sender`` still applies); it replaces ``to``.
    * ``cookies(http_base)`` (optional): log the user in (``http_base`` is ``http://host:port`` of the target)
      and return the cookies its upgrade carries; a failure raises, and the user stops with the reason.

    It runs in Locust's gevent processes: blocking calls (``http.client``, ``socket``) are fine, asyncio is not.
    """

    def __init__(self, *, user: str, room: str, n: int) -> None: ...

    def message(self, token: str, seq: int) -> str | bytes: ...


def load_adapter(spec: str, paths: Sequence[str] = ()) -> type[AppAdapter]:
    """Import the adapter class ``spec`` (``package.module:Class``), looking in ``paths`` first.

    Raises:
        TemplateError: naming the spec and what went wrong.
    """
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name.isidentifier():
        raise TemplateError(f"expected package.module:Class, got {spec!r}", "[app].adapter")
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error it raises on import is theirs to see
        raise TemplateError(f"{spec}: cannot import {module_name}: {exc!r}", "[app].adapter") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not callable(getattr(cls, "message", None)):
        raise TemplateError(
            f"{spec}: expected a class with a message(token, seq) method (docs/your-app.md, adapters)",
            "[app].adapter",
        )
    return cast(type[AppAdapter], cls)


@dataclass(frozen=True, slots=True)
class AppStep:
    """One request → reply step each user takes after it connects and before it sends (``[[app.steps]]``): join a
    room, subscribe, say hello.

    Attributes:
        send_json, send_text: what to send (templates with ``{room}``, ``{user}``, ``{env.NAME}``), or neither.
        expect_key, expect_equals: wait for a JSON object frame whose dotted key holds this value (a template).
        expect_contains: or wait for a frame that contains this text (a template).
        timeout_s: how long to wait for it; a user whose step times out stops with the reason.
    """

    send_json: Any = None
    send_text: str | None = None
    expect_key: str | None = None
    expect_equals: str | None = None
    expect_contains: str | None = None
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.send_json is not None and self.send_text is not None:
            raise TemplateError("give json or text, not both", "[[app.steps]]")
        if (self.expect_key is None) != (self.expect_equals is None):
            raise TemplateError("expect_key and expect_equals go together", "[[app.steps]]")
        if self.expect_key is not None and self.expect_contains is not None:
            raise TemplateError("expect a key's value or a text, not both", "[[app.steps]]")
        if (
            self.send_json is None
            and self.send_text is None
            and self.expect_key is None
            and self.expect_contains is None
        ):
            raise TemplateError("a step sends something, expects something, or both", "[[app.steps]]")
        if not self.timeout_s > 0:
            raise TemplateError(f"expected seconds > 0, got {self.timeout_s}", "[[app.steps]].timeout_s")
        self.templates()

    def templates(self) -> dict[str, Template]:
        """The step's templates by key: ``send`` (a JSON message is serialized once), ``equals``, ``contains``."""
        out = {}
        try:
            if self.send_json is not None:
                out["send"] = json_template(self.send_json, "json", STEP_PLACEHOLDERS)
            elif self.send_text is not None:
                out["send"] = Template.compile(self.send_text, STEP_PLACEHOLDERS)
            for key, value in (("equals", self.expect_equals), ("contains", self.expect_contains)):
                if value is not None:
                    out[key] = Template.compile(value, STEP_PLACEHOLDERS)
        except TemplateError as exc:
            raise TemplateError(str(exc), "[[app.steps]]") from None
        return out

    def expected(self, values: Mapping[str, str]) -> str:
        """The text or value this step waits for, its template filled with ``values`` (once per step)."""
        template = self.templates()["contains" if self.expect_contains is not None else "equals"]
        return template.render(values)

    def matches(self, frame: str, expected: str) -> bool:
        """Whether ``frame`` is the reply this step waits for (``expected``: :meth:`expected`)."""
        if self.expect_contains is not None:
            return expected in frame
        assert self.expect_key is not None
        node = json_key(frame, self.expect_key)
        return node is not None and str(node) == expected


@dataclass(frozen=True, slots=True)
class AppAuth:
    """A form login each user does before it connects, as Django apps do it (``[app.auth]``).

    Attributes:
        login_path: the login form's path on the target's host (Django's ``LoginView``: ``/accounts/login/``).
        username, password: templates with ``{user}``, ``{n}`` and ``{env.NAME}``; with ``credentials`` they may
            also name its columns (``{username}``, ``{password}``).
        username_field, password_field: the form's field names.
        session_cookie: the cookie a successful login sets; the upgrade carries every cookie the login set.
        credentials: a CSV file (absolute, or next to the scenario file) whose header names columns: user ``n``
            takes row ``n`` modulo the rows, and its columns fill the templates.
    """

    login_path: str
    username: str = "{username}"
    password: str = "{password}"
    username_field: str = "username"
    password_field: str = "password"
    session_cookie: str = "sessionid"
    credentials: str | None = None

    def __post_init__(self) -> None:
        if not self.login_path.startswith("/"):
            raise TemplateError(f"expected a path starting with '/', got {self.login_path!r}", "[app.auth].login_path")
        rows = self.rows()
        self.templates(tuple(rows[0]) if rows else ())

    def rows(self) -> list[dict[str, str]]:
        """The rows of :attr:`credentials` (none without it).

        Raises:
            TemplateError: the file cannot be read, has no rows, or a row lacks a column.
        """
        if self.credentials is None:
            return []
        try:
            with open(self.credentials, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise TemplateError(f"cannot read {self.credentials}: {exc}", "[app.auth].credentials") from None
        if not rows:
            raise TemplateError(f"{self.credentials} has a header but no rows", "[app.auth].credentials")
        for i, row in enumerate(rows, start=2):
            if None in row.values() or None in row:
                raise TemplateError(
                    f"{self.credentials}, line {i}: not as many values as columns", "[app.auth].credentials"
                )
        return rows

    def templates(self, columns: tuple[str, ...] = ()) -> dict[str, Template]:
        """The username and password templates (``columns``: the credentials file's, allowed as placeholders)."""
        out = {}
        for key in ("username", "password"):
            try:
                out[key] = Template.compile(getattr(self, key), (*AUTH_PLACEHOLDERS, *columns))
            except TemplateError as exc:
                raise TemplateError(str(exc), f"[app.auth].{key}") from None
        return out


@dataclass(frozen=True, slots=True)
class AppProtocol:
    """What the users of an ``app`` scenario do, checked.

    Attributes:
        path: appended to the target's base URL; placeholders ``{room}`` and ``{user}``.
        origin: the Origin header of the upgrade, or None for the generator's default (the target's own origin).
        send_json: the JSON message (a TOML table, array or string), or None.
        send_text: the text message, or None; exactly one of the two is set.
        fanout_to: who must receive each message: the sender's ``room``, every user on the same ``url``, or only
            the ``sender``.
        first_seen: each receiver counts only the first frame that carries a message's token, so an app that
            re-sends its whole state does not look like one that duplicates messages.
        include_sender: with ``room`` and ``url``, the sender receives its own message too (most chat apps send
            to the whole group); False for an app that sends to everyone but the sender.
        via: ``socket`` (each user sends on its WebSocket) or ``http`` (each user publishes with an HTTP request to
            ``http_path`` on the target's host, and receives on its WebSocket: an app whose pushes follow a POST).
        http_method, http_path, http_headers: the request of ``via = "http"``; path and header values are
            templates with the message's placeholders.
        auth: the login each user does first, or None.
        ignore: frames to leave out of every count, each rule a (dotted JSON key, value) pair: a frame that is a
            JSON object whose key holds that value (``("type", "presence")``) and carries no token of the run is
            counted as ``ignored`` instead of ``no_token``.
        settle: the users send only once every user has connected and no frame without a token has been read for
            a second (the generator's settle barrier), so joins and welcomes are over before anything is timed.
        adapter: ``package.module:Class``, a Python class for what a file cannot express (:class:`AppAdapter`):
            it makes each message, and may find the tokens in a frame and log the user in. With one, ``[app.send]``
            is optional.
        steps: what each user does after it connects and before it sends (``[[app.steps]]``).
        headers: extra headers of the WebSocket upgrade (templates with ``{room}``, ``{user}``, ``{env.NAME}``): a
            token in a header, as a non-browser client may send.
        subprotocols: the subprotocols the upgrade offers (``Sec-WebSocket-Protocol``).
        reply_id, push_id: correlation by an id the server makes (``[app.correlate]``): the sender's copy of its
            message (which carries the token) holds the id at the dotted key ``reply_id``; the other receivers get
            pushes that hold only that id, at ``push_id``. A push that comes before its id is known is held, not
            lost; one whose id never comes is counted as ``unmatched_id``. The ids are known per generator
            process, so it needs one (``--processes 0``, the default).
        adapter_paths: where the adapter's module is imported from (the scenario file's directory and the
            directory the harness was started in), first on ``sys.path``, in every generator process too.
    """

    path: str
    origin: str | None
    send_json: Any
    send_text: str | None
    fanout_to: FanoutTo
    first_seen: bool
    include_sender: bool = True
    via: Via = "socket"
    http_method: str = "POST"
    http_path: str | None = None
    http_headers: Mapping[str, str] = field(default_factory=dict)
    auth: AppAuth | None = None
    ignore: tuple[tuple[str, str], ...] = ()
    settle: bool = True
    adapter: str | None = None
    adapter_paths: tuple[str, ...] = ()
    steps: tuple[AppStep, ...] = ()
    reply_id: str | None = None
    push_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    subprotocols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise TemplateError(
                f"expected a path starting with '/' (it is appended to --target), got {self.path!r}", "[app].path"
            )
        if self.origin is not None and not self.origin.startswith(("http://", "https://")):
            raise TemplateError(
                f"expected an origin such as http://127.0.0.1:8000, got {self.origin!r}", "[app].origin"
            )
        self._check_fanout()
        if self.adapter is not None:
            self.adapter_class()
            if self.send_json is None and self.send_text is None:
                if self.via != "socket":
                    raise TemplateError(
                        'an adapter\'s messages go on the socket: via = "http" needs [app.send] json or text',
                        "[app.send].via",
                    )
                return
        if (self.send_json is None) == (self.send_text is None):
            raise TemplateError("expected exactly one of json (a table) and text (a string)", "[app.send]")
        carried = set(self.message_template().names)
        if self.via not in VIAS:
            raise TemplateError(f"expected one of {', '.join(VIAS)}, got {self.via!r}", "[app.send].via")
        if self.via == "http":
            if self.http_path is None or not self.http_path.startswith("/"):
                raise TemplateError(
                    f'via = "http" needs http_path, a path starting with "/", got {self.http_path!r}',
                    "[app.send].http_path",
                )
            if not re.match(r"^[A-Z]+$", self.http_method):
                raise TemplateError(
                    f"expected an HTTP method such as POST, got {self.http_method!r}", "[app.send].method"
                )
            carried |= self.http_path_template().names
            self.header_templates()
        elif self.http_path is not None or self.http_headers:
            raise TemplateError('http_path, method and headers need via = "http"', "[app.send]")
        if "token" not in carried:
            raise TemplateError(
                'no {token}: put it where the app relays text (e.g. json = { message = "{token}" }); receivers '
                "find each message by it",
                "[app.send]",
            )

    def _check_fanout(self) -> None:
        if self.fanout_to not in FANOUT_TO:
            raise TemplateError(f"expected one of {', '.join(FANOUT_TO)}, got {self.fanout_to!r}", "[app.fanout].to")
        self.upgrade_headers()
        if self.fanout_to == "sender" and not self.include_sender:
            raise TemplateError(
                'to = "sender" with include_sender = false would expect no one to receive a message',
                "[app.fanout].include_sender",
            )
        joins = set(self.path_template().names)
        for step in self.steps:
            for template in step.templates().values():
                joins |= template.names
        if self.fanout_to == "room" and "room" not in joins:
            raise TemplateError(
                f"room needs {{room}} in [app].path ({self.path!r}) or in a step that joins it: that is how each "
                'user joins its room (users are split into rooms r0, r1, … of load.room_size); use to = "url" '
                "when every user connects to the same path",
                "[app.fanout].to",
            )

    def adapter_class(self) -> type[AppAdapter]:
        """The adapter's class, imported from :attr:`adapter_paths` first.

        Raises:
            TemplateError: naming what could not be imported, or what the class lacks.
        """
        if self.adapter is None:
            raise TemplateError("no adapter", "[app].adapter")
        return load_adapter(self.adapter, self.adapter_paths)

    def path_template(self) -> Template:
        try:
            return Template.compile(self.path, PATH_PLACEHOLDERS)
        except TemplateError as exc:
            raise TemplateError(str(exc), "[app].path") from None

    def message_template(self) -> Template:
        """The message with ``{token}``, ``{room}`` and ``{user}`` to fill (a JSON message already serialized)."""
        if self.send_text is None:
            try:
                return json_template(self.send_json)
            except TemplateError as exc:
                raise TemplateError(str(exc), "[app.send]") from None
        try:
            return Template.compile(self.send_text, MESSAGE_PLACEHOLDERS)
        except TemplateError as exc:
            raise TemplateError(str(exc), "[app.send].text") from None

    def http_path_template(self) -> Template:
        try:
            return Template.compile(self.http_path or "", MESSAGE_PLACEHOLDERS)
        except TemplateError as exc:
            raise TemplateError(str(exc), "[app.send].http_path") from None

    def header_templates(self) -> dict[str, Template]:
        """The publish request's headers (``via = "http"``), as templates."""
        return header_templates(self.http_headers, MESSAGE_PLACEHOLDERS, "[app.send].headers")

    def to_json(self) -> str:
        """The protocol as one JSON text (``--harness-app``)."""
        return json.dumps(
            {
                "path": self.path,
                "origin": self.origin,
                "send_json": self.send_json,
                "send_text": self.send_text,
                "fanout_to": self.fanout_to,
                "first_seen": self.first_seen,
                "include_sender": self.include_sender,
                "via": self.via,
                "http_method": self.http_method,
                "http_path": self.http_path,
                "http_headers": dict(self.http_headers),
                "auth": None if self.auth is None else asdict(self.auth),
                "ignore": [list(rule) for rule in self.ignore],
                "settle": self.settle,
                "adapter": self.adapter,
                "adapter_paths": list(self.adapter_paths),
                "steps": [asdict(step) for step in self.steps],
                "reply_id": self.reply_id,
                "push_id": self.push_id,
                "headers": dict(self.headers),
                "subprotocols": list(self.subprotocols),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> AppProtocol:
        data = json.loads(text)
        return cls(
            path=str(data["path"]),
            origin=data["origin"],
            send_json=data["send_json"],
            send_text=data["send_text"],
            fanout_to=cast(FanoutTo, data["fanout_to"]),
            first_seen=bool(data["first_seen"]),
            include_sender=bool(data["include_sender"]),
            via=data["via"],
            http_method=str(data["http_method"]),
            http_path=data["http_path"],
            http_headers=dict(data["http_headers"]),
            auth=None if data["auth"] is None else AppAuth(**data["auth"]),
            ignore=tuple((str(key), str(value)) for key, value in data["ignore"]),
            settle=bool(data["settle"]),
            adapter=data["adapter"],
            adapter_paths=tuple(data["adapter_paths"]),
            steps=tuple(AppStep(**step) for step in data["steps"]),
            reply_id=data["reply_id"],
            push_id=data["push_id"],
            headers=dict(data["headers"]),
            subprotocols=tuple(data["subprotocols"]),
        )

    def upgrade_headers(self) -> dict[str, Template]:
        """The upgrade's extra headers, as templates."""
        return header_templates(self.headers, STEP_PLACEHOLDERS, "[app].headers")

    def ignores(self, frame: str) -> bool:
        """Whether ``frame`` matches one of the ignore rules (a JSON object whose key holds the rule's value)."""
        if not self.ignore:
            return False
        # Parsed once for every rule: this runs for each frame without a token.
        try:
            doc = json.loads(frame)
        except ValueError:
            return False
        return any(str(node) == value for key, value in self.ignore if (node := key_of(doc, key)) is not None)


def parse_app(c: _Checker, raw: Any, directory: Path | None = None) -> AppProtocol:
    """Validate ``[app]``: the keys and types here, what the values must agree on in :class:`AppProtocol`; every
    problem names its key (``[app.send]: json.message: {x} is not a placeholder here; …``)."""
    t = c.table(raw, "[app]")
    c.keys(
        t,
        "[app]",
        ("path", "fanout"),
        ("send", "origin", "auth", "ignore", "settle", "adapter", "steps", "correlate", "headers", "subprotocols"),
    )
    upgrade = c.table(t["headers"], "[app].headers") if "headers" in t else {}
    for name, value in upgrade.items():
        c.string(value, f"[app].headers.{name}")
    offered = c.array(t["subprotocols"], "[app].subprotocols", "strings") if "subprotocols" in t else []
    subprotocols = tuple(c.string(v, f"[app].subprotocols[{i}]") for i, v in enumerate(offered))
    correlate = c.table(t["correlate"], "[app.correlate]") if "correlate" in t else {}
    if "correlate" in t:
        c.keys(correlate, "[app.correlate]", ("reply_id", "push_id"), ())
    adapter = _opt(t, "adapter", None, lambda v: c.string(v, "[app].adapter"))
    if adapter is None and "send" not in t:
        raise c.fail("[app.send]", "missing; give the message (json or text), or an adapter that makes it")
    # The scenario file's directory, then the one the harness runs in: where a user keeps an adapter module.
    paths = tuple(dict.fromkeys(str(p) for p in (directory, Path.cwd()) if p is not None))
    rules = []
    for i, rule in enumerate(c.array(t["ignore"], "[app].ignore", "tables") if "ignore" in t else ()):
        r = c.table(rule, f"[app].ignore[{i}]")
        c.keys(r, f"[app].ignore[{i}]", ("key", "equals"), ())
        rules.append((c.string(r["key"], f"[app].ignore[{i}].key"), c.string(r["equals"], f"[app].ignore[{i}].equals")))
    send = c.table(t["send"], "[app.send]") if "send" in t else {}
    c.keys(send, "[app.send]", (), ("json", "text", "via", "method", "http_path", "headers"))
    headers = c.table(send["headers"], "[app.send].headers") if "headers" in send else {}
    for name, value in headers.items():
        c.string(value, f"[app.send].headers.{name}")
    if "json" in send and not isinstance(send["json"], Mapping | list | str):
        raise c.expected("[app.send].json", "a table, an array or a string", send["json"])
    fanout = c.table(t["fanout"], "[app.fanout]")
    c.keys(fanout, "[app.fanout]", ("to",), ("first_seen", "include_sender"))
    try:
        protocol = AppProtocol(
            path=c.string(t["path"], "[app].path"),
            origin=_opt(t, "origin", None, lambda v: c.string(v, "[app].origin")),
            send_json=send.get("json"),
            send_text=_opt(send, "text", None, lambda v: c.string(v, "[app.send].text")),
            fanout_to=cast(FanoutTo, c.choice(fanout["to"], "[app.fanout].to", FANOUT_TO)),
            first_seen=_opt(fanout, "first_seen", False, lambda v: c.boolean(v, "[app.fanout].first_seen")),
            include_sender=_opt(fanout, "include_sender", True, lambda v: c.boolean(v, "[app.fanout].include_sender")),
            via=cast(Via, _opt(send, "via", "socket", lambda v: c.choice(v, "[app.send].via", VIAS))),
            http_method=_opt(send, "method", "POST", lambda v: c.string(v, "[app.send].method")),
            http_path=_opt(send, "http_path", None, lambda v: c.string(v, "[app.send].http_path")),
            http_headers=dict(headers),
            auth=_auth(c, t["auth"], directory) if "auth" in t else None,
            ignore=tuple(rules),
            settle=_opt(t, "settle", True, lambda v: c.boolean(v, "[app].settle")),
            adapter=adapter,
            adapter_paths=paths if adapter is not None else (),
            steps=_steps(c, t["steps"]) if "steps" in t else (),
            reply_id=c.string(correlate["reply_id"], "[app.correlate].reply_id") if "correlate" in t else None,
            push_id=c.string(correlate["push_id"], "[app.correlate].push_id") if "correlate" in t else None,
            headers=dict(upgrade),
            subprotocols=subprotocols,
        )
        for template in protocol.upgrade_headers().values():
            template.environment(os.environ)
        for step in protocol.steps:
            for template in step.templates().values():
                template.environment(os.environ)
        auth = protocol.auth
        columns = tuple(auth.rows()[0]) if auth is not None and auth.credentials else ()
        for template in auth.templates(columns).values() if auth else ():
            template.environment(os.environ)
        for template in protocol.header_templates().values():
            template.environment(os.environ)
        protocol.http_path_template().environment(os.environ)
        # The variables are read where the users run; missing ones are named now rather than by every user then.
        protocol.path_template().environment(os.environ)
        protocol.message_template().environment(os.environ)
    except TemplateError as exc:
        raise c.fail(exc.key or "[app]", str(exc)) from None
    return protocol


def _auth(c: _Checker, raw: Any, directory: Path | None) -> AppAuth:
    t = c.table(raw, "[app.auth]")
    optional = ("username", "password", "username_field", "password_field", "session_cookie", "credentials")
    c.keys(t, "[app.auth]", ("login_path",), optional)
    values = {key: c.string(t[key], f"[app.auth].{key}") for key in ("login_path", *optional) if key in t}
    if "credentials" in values:
        # Relative to the scenario file, as users keep them side by side; absolute so every process finds it.
        values["credentials"] = str(((directory or Path.cwd()) / values["credentials"]).resolve())
    elif "username" not in values or "password" not in values:
        raise c.fail("[app.auth]", "needs username and password (templates), or a credentials file")
    return AppAuth(**values)


def _steps(c: _Checker, raw: Any) -> tuple[AppStep, ...]:
    steps = []
    optional = ("json", "text", "expect_key", "expect_equals", "expect_contains", "timeout_s")
    for i, item in enumerate(c.array(raw, "[[app.steps]]", "tables")):
        at = f"[[app.steps]][{i}]"
        t = c.table(item, at)
        c.keys(t, at, (), optional)
        text = {
            k: c.string(t[k], f"{at}.{k}") for k in ("text", "expect_key", "expect_equals", "expect_contains") if k in t
        }
        timeout = c.number(t["timeout_s"], f"{at}.timeout_s", minimum=0, inclusive=False) if "timeout_s" in t else 5.0
        try:
            steps.append(
                AppStep(
                    send_json=t.get("json"),
                    send_text=text.get("text"),
                    expect_key=text.get("expect_key"),
                    expect_equals=text.get("expect_equals"),
                    expect_contains=text.get("expect_contains"),
                    timeout_s=float(timeout),
                )
            )
        except TemplateError as exc:
            raise c.fail(at, str(exc)) from None
    return tuple(steps)
