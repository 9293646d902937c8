"""Receiving on a WebSocket connection from gevent's hub, without a greenlet switch per message.

A greenlet blocked in ``recv()`` costs, per delivered frame: a failed non-blocking read (an exception), a
switch to the hub, the event loop's wake-up, a switch back and a second read. A load generator receives a
frame per socket per message sent to its room, so that is the bulk of its CPU in fan-out runs. A
:class:`HubReceiver` instead keeps one libev read watcher started on the socket for the connection's life;
its callback runs in the hub, reads what is there, parses it (:meth:`WsConnection.receive_data`) and hands
each message to the handler, all without leaving the hub.

Handlers therefore run in the hub and must never block (no socket I/O, no ``gevent.sleep``, no waiting on
a lock); recording results and firing Locust events is fine. Whatever may block goes to a greenlet of its
own: writing a pong (the socket's buffer could be full) and the closing handshake, after which ``on_closed``
gets the :class:`~harness.wsclient.Closed` that ended the connection.

TLS connections (``wss://``) keep the blocking path: a TLS record is not a socket read, so the callback
would need the SSL object's own buffering. They are received by a greenlet in :meth:`WsConnection.recv_many`.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.hub import get_hub

from harness.wsclient import READ_SIZE, Closed, Message, WsConnection

__all__ = ["HubReceiver"]

log = logging.getLogger("harness.receiver")

_READ = 1  # libev's EV_READ


class HubReceiver:
    """Delivers every message of ``conn`` to ``on_message``, then the end of the connection to ``on_closed``.

    Args:
        conn: an open connection; nothing else may read it while the receiver runs.
        on_message: called in the hub for each message, in order; must not block.
        on_closed: called once, in a greenlet, when the connection has ended (not after :meth:`stop`).
    """

    def __init__(
        self,
        conn: WsConnection,
        on_message: Callable[[Message], None],
        on_closed: Callable[[Closed], None],
    ) -> None:
        self.conn = conn
        self.on_message = on_message
        self.on_closed = on_closed
        self._watcher: Any = None
        self._greenlets: list[gevent.Greenlet] = []
        self._stopped = False
        sock = conn.socket
        # gevent's socket keeps the OS socket (non-blocking) in ``_sock``; reading that one directly is
        # what saves the wake-up machinery.
        raw = getattr(sock, "_sock", None)
        self._raw = None if isinstance(sock, ssl.SSLSocket) or raw is None else raw

    def start(self) -> HubReceiver:
        if self._raw is None:
            self._spawn(self._receive_in_greenlet)
            return self
        watcher = get_hub().loop.io(self._raw.fileno(), _READ)
        watcher.start(self._readable)
        self._watcher = watcher
        return self

    def stop(self) -> None:
        """Stop delivering (the connection stays as it is, for the caller to close)."""
        self._stopped = True
        self._stop_watcher()
        for greenlet in self._greenlets:
            greenlet.kill(block=True, timeout=2.0)
        self._greenlets.clear()

    def _stop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
            watcher.close()

    def _spawn(self, func: Callable[[], None]) -> None:
        self._greenlets = [g for g in self._greenlets if not g.dead]
        self._greenlets.append(gevent.spawn(func))

    # -- in the hub ------------------------------------------------------------------------
    def _readable(self) -> None:
        raw = self._raw
        assert raw is not None
        try:
            data = raw.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return  # woken without data (another reader of the fd, a spurious wake-up)
        except OSError:
            data = b""  # a reset is an abrupt end, like EOF without a close frame
        conn = self.conn
        core = conn.receive_data(data, time.monotonic_ns())
        self._dispatch(conn.take_messages())
        if not core:
            return
        if not conn.is_open:
            # The closing handshake reads and writes with waits: a greenlet's job.
            self._stop_watcher()
            self._spawn(self._receive_in_greenlet)
        elif conn.has_data_to_send():
            self._spawn(conn.flush)

    def _dispatch(self, messages: list[Message]) -> None:
        handler = self.on_message
        for message in messages:
            try:
                handler(message)
            except Exception:
                # A handler bug must not stop the hub nor the other messages; Locust logs task errors alike.
                log.exception("message handler failed on %r", message)

    # -- in greenlets ----------------------------------------------------------------------
    def _receive_in_greenlet(self) -> None:
        """Blocking reads until the connection ends: the closing handshake, or a whole TLS connection."""
        conn = self.conn
        try:
            conn.flush()
            while True:
                self._dispatch(conn.recv_many())
        except Closed as exc:
            if not self._stopped:
                self.on_closed(exc)
