"""Adapters for the tests of ``[app].adapter``: what a scenario file cannot express, in a few lines of Python."""

from __future__ import annotations

import json


class IntRequestIds:
    """An app that echoes ``request_id`` but wants an integer there: keep each token by its id, give it back."""

    def __init__(self, *, user: str, room: str, n: int) -> None:
        self.n = n
        self.pending: dict[int, str] = {}

    def message(self, token: str, seq: int) -> str:
        request_id = self.n * 1_000_000 + seq
        self.pending[request_id] = token
        return json.dumps({"action": "echo", "request_id": request_id})

    def tokens(self, frame: str | bytes) -> list[str]:
        try:
            request_id = json.loads(frame).get("request_id")
        except (ValueError, AttributeError):
            return []
        token = self.pending.pop(request_id, None)
        return [] if token is None else [token]


class EveryoneInLobby:
    """Every user in one room the path names, its recipients given by ``group``: all of them."""

    def __init__(self, *, user: str, room: str, n: int) -> None:
        pass

    def message(self, token: str, seq: int) -> str:
        return json.dumps({"message": token})

    def group(self) -> str:
        return "lobby"
