"""A blocking WebSocket client for load generation: websockets' sans-I/O core over a plain socket.

Locust runs users as gevent greenlets, so the client must block in the ``socket`` module (which Locust
monkey-patches) and must never start an asyncio loop. This module therefore does its I/O through
``socket``/``ssl`` looked up at call time and leaves the protocol (framing, masking, the opening
handshake, answering pings, the closing handshake) to :class:`websockets.client.ClientProtocol`, except
for parsing the simple data frames that make up nearly all of a load test's traffic
(:meth:`WsConnection.receive_data`). It imports neither gevent nor Django: the caller decides whether
to monkey-patch.

Connect failures are classified by :attr:`ConnectFailure.kind`; a connection that ends raises
:class:`Closed` with the close code and who ended it. Every received message carries
``time.monotonic_ns()`` taken right after the read that completed it returned.
See ``docs/clients.md`` for the measurements behind the choice of this design.
"""

from __future__ import annotations

from harness.load.wsclient.connection import CLOSE_TIMEOUT, READ_SIZE, WsConnection
from harness.load.wsclient.handshake import USER_AGENT, connect
from harness.load.wsclient.model import Closed, ConnectFailure, ConnectTiming, FailureKind, Message

__all__ = [
    "CLOSE_TIMEOUT",
    "READ_SIZE",
    "USER_AGENT",
    "Closed",
    "ConnectFailure",
    "ConnectTiming",
    "FailureKind",
    "Message",
    "WsConnection",
    "connect",
]
