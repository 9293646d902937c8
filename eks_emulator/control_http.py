"""A small HTTP/1.1 + JSON control endpoint over ``Controller`` (stdlib asyncio only) [D].

One request per connection (``Connection: close``), bodies of at most 64 KiB. Routes:

    GET    /devices                      list devices
    GET    /devices/<id>                 one device
    GET    /metrics                      fleet counters and per-device metrics
    GET    /inserts?since=<seq>          stamped insert events after seq
    GET    /events?since=<seq>           inserts and removes after seq
    POST   /devices/<id>/insert          {"serial": "16 hex"?, "user_hex": "..."?, "read_only": bool?}
    POST   /devices/<id>/remove
    POST   /devices/<id>/faults          {"kind": "...", ...fault fields}
    DELETE /devices/<id>/faults[?kind=]  clear all faults, or one kind
    POST   /devices/<id>/reboot          {"down_s": number, "keep_key": bool?}
    POST   /faults                       {"fraction": 0-1, "seed": ...?, "kind": "...", ...}

Errors are JSON ``{"error": "..."}`` with 400 (bad body or field), 404 (no such route or device), 405, 411,
413 or 408, the message naming what was wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from .control import Controller
from .faults import Fault, FaultKind, FaultSpecError

__all__ = ["ControlServer", "HttpError"]

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_HEADER_LINES = 100
REQUEST_TIMEOUT_S = 10.0


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes

    def json(self) -> dict[str, object]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return data


def _number(body: dict[str, object], name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if value is None:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"field {name!r} is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"field {name!r} must be a number, got {value!r}")
    return float(value)


def _bool(body: dict[str, object], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"field {name!r} must be true or false, got {value!r}")
    return value


def _only(body: dict[str, object], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed)) or 'none'}",
        )


class ControlServer:
    """Serves the control routes on ``host:port`` (port 0: OS-assigned, see ``port`` after ``start``)."""

    def __init__(self, controller: Controller, host: str = "127.0.0.1", port: int = 0) -> None:
        self.controller = controller
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(self._read_request(reader), REQUEST_TIMEOUT_S)
                status, payload = self._dispatch(request)
            except HttpError as exc:
                status, payload = exc.status, {"error": exc.message}
            except TimeoutError:
                status, payload = HTTPStatus.REQUEST_TIMEOUT, {"error": "request not received in time"}
            body = json.dumps(payload, sort_keys=True).encode() + b"\n"
            head = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request:
        line = await self._read_line(reader)
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"malformed request line {line!r}")
        method, target, _ = parts
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            raw = await self._read_line(reader)
            if not raw:
                break
            name, sep, value = raw.partition(":")
            if not sep:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"malformed header line {raw!r}")
            headers[name.strip().lower()] = value.strip()
        else:
            raise HttpError(HTTPStatus.BAD_REQUEST, "too many header lines")
        body = b""
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise HttpError(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
            if length > MAX_BODY:
                raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY} bytes")
            body = await reader.readexactly(length)
        elif method in ("POST", "PUT") and "transfer-encoding" in headers:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length; chunked bodies are not supported")
        url = urlsplit(target)
        return _Request(method, url.path.rstrip("/") or "/", parse_qs(url.query), body)

    @staticmethod
    async def _read_line(reader: asyncio.StreamReader) -> str:
        try:
            return (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
        except asyncio.IncompleteReadError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "connection closed inside the request head") from None
        except asyncio.LimitOverrunError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "request head line too long") from None

    def _dispatch(self, request: _Request) -> tuple[HTTPStatus, object]:
        segments = [s for s in request.path.split("/") if s]
        method = request.method
        c = self.controller
        if segments == ["devices"]:
            self._allow(method, "GET")
            return HTTPStatus.OK, {"devices": c.devices()}
        if segments == ["metrics"]:
            self._allow(method, "GET")
            return HTTPStatus.OK, c.metrics()
        if segments in (["inserts"], ["events"]):
            self._allow(method, "GET")
            since = self._since(request)
            events = c.inserts(since) if segments == ["inserts"] else c.events(since)
            return HTTPStatus.OK, {segments[0]: [e.to_dict() for e in events]}
        if segments == ["faults"]:
            self._allow(method, "POST")
            body = request.json()
            fraction = _number(body, "fraction")
            seed = body.get("seed")
            if seed is not None and not isinstance(seed, int | str):
                raise HttpError(HTTPStatus.BAD_REQUEST, f"field 'seed' must be an integer or string, got {seed!r}")
            fault = self._fault({k: v for k, v in body.items() if k not in ("fraction", "seed")})
            try:
                chosen = c.inject_fault_fraction(fault, fraction, seed)
            except ValueError as exc:
                raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
            return HTTPStatus.OK, {"devices": chosen, "fault": fault.to_dict()}
        if len(segments) >= 2 and segments[0] == "devices":
            return self._device_route(request, segments[1], segments[2:])
        raise HttpError(HTTPStatus.NOT_FOUND, f"no route {request.path!r}; see docs/eks-emulator.md")

    def _device_route(self, request: _Request, raw_id: str, rest: list[str]) -> tuple[HTTPStatus, object]:
        c = self.controller
        try:
            device_id = int(raw_id)
        except ValueError:
            raise HttpError(HTTPStatus.NOT_FOUND, f"device id {raw_id!r} is not a number") from None
        if device_id not in c.fleet.devices:
            raise HttpError(
                HTTPStatus.NOT_FOUND,
                f"no device {device_id} in this process "
                f"(shard {c.fleet.config.shard} of a fleet of {c.fleet.config.devices})",
            )
        method = request.method
        action = rest[0] if len(rest) == 1 else None
        if not rest:
            self._allow(method, "GET")
            return HTTPStatus.OK, c.device(device_id)
        if action == "insert":
            self._allow(method, "POST")
            body = request.json()
            _only(body, {"serial", "user_hex", "read_only"})
            serial = body.get("serial")
            if serial is not None and not isinstance(serial, str):
                raise HttpError(HTTPStatus.BAD_REQUEST, f"field 'serial' must be 16 hex digits, got {serial!r}")
            user_hex = body.get("user_hex")
            try:
                user = bytes.fromhex(user_hex) if isinstance(user_hex, str) else None
                if user_hex is not None and user is None:
                    raise ValueError(f"user_hex must be a hex string, got {user_hex!r}")
                event = c.insert(device_id, serial, user_data=user, read_only=_bool(body, "read_only", False))
            except ValueError as exc:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"insert: {exc}") from None
            return HTTPStatus.OK, {"event": event.to_dict()}
        if action == "remove":
            self._allow(method, "POST")
            removed = c.remove(device_id)
            return HTTPStatus.OK, {"event": removed.to_dict() if removed is not None else None}
        if action == "faults":
            if method == "DELETE":
                kinds = request.query.get("kind", [])
                kind = None
                if kinds:
                    try:
                        kind = FaultKind(kinds[0])
                    except ValueError:
                        raise HttpError(HTTPStatus.BAD_REQUEST, f"kind {kinds[0]!r} is not a fault") from None
                return HTTPStatus.OK, {"cleared": [k.value for k in c.clear_faults(device_id, kind)]}
            self._allow(method, "POST", "DELETE")
            fault = self._fault(request.json())
            c.inject_fault(device_id, fault)
            return HTTPStatus.OK, {"device": device_id, "fault": fault.to_dict()}
        if action == "reboot":
            self._allow(method, "POST")
            body = request.json()
            _only(body, {"down_s", "keep_key"})
            down_s = _number(body, "down_s", 1.0)
            if down_s < 0:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"field 'down_s' must be >= 0, got {down_s}")
            c.reboot(device_id, down_s, keep_key=_bool(body, "keep_key", True))
            return HTTPStatus.OK, {"device": device_id, "down_s": down_s}
        raise HttpError(HTTPStatus.NOT_FOUND, f"no route {request.path!r}; see docs/eks-emulator.md")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"use {' or '.join(allowed)} here, not {method}")

    @staticmethod
    def _since(request: _Request) -> int:
        values = request.query.get("since", ["0"])
        try:
            return int(values[0])
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"query 'since' must be an integer, got {values[0]!r}") from None

    @staticmethod
    def _fault(body: dict[str, object]) -> Fault:
        try:
            return Fault.from_mapping(body)
        except FaultSpecError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"fault: {exc}") from None
