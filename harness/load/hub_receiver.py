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
gets the :class:`~harness.load.wsclient.Closed` that ended the connection.

TLS connections (``wss://``) keep the blocking path: a TLS record is not a socket read, so the callback
would need the SSL object's own buffering. They are received by a greenlet in :meth:`WsConnection.recv_many`.

Deferred handling (:class:`ReceiveBatch`). A receiver given a batch still reads every socket the moment it is
readable and stamps the read with ``time.monotonic_ns()`` then, so every latency is what it would have been;
only parsing and handling wait, up to the batch's delay, and then run for every read of every receiver at once,
in the order of the reads. A generator wakes once per frame in fan-out (frames trickle in as the server writes
them) and each wake-up found the parser, the handler and their data cold: handled in batches the same work
costs far less (docs/performance.md has the figures). What a handler does happens that much later: a reply
(pong) leaves later, and anything that must react at once to a message (a closed-loop sender waiting for its
own reply) should not use a batch.

Repeated reads (:class:`RepeatReads`). A message sent to a room reaches every member's socket as the same bytes,
and at low rates each socket's read holds just that one frame. A receiver given a :class:`RepeatReads` keeps,
for a read that held exactly one whole data frame, what its handler returned for that message (a "token"); a
later read of equal bytes on a connection at a frame boundary (:attr:`WsConnection.at_frame_boundary`) is then
not parsed: ``on_repeat(token, read_ns)`` handles it, which must do what ``on_message`` would have done with
an equal message read at ``read_ns``. One :class:`RepeatReads` may serve the receivers of many connections
opened alike (same ``decode_text`` and ``max_size``) whose handlers make the same token of equal messages.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.hub import get_hub

from harness.load.wsclient import READ_SIZE, Closed, Message, WsConnection

__all__ = ["FLUSH_AT_READS", "HubReceiver", "ReceiveBatch", "RepeatReads"]

log = logging.getLogger("harness.receiver")

_READ = 1  # libev's EV_READ
#: A batch this long is handled at once. Frames that arrive while a batch is handled are read (and timed) after
#: it, so its length bounds that wait: 64 reads at the 7-8 µs a frame costs warm is about half a millisecond,
#: and a batch that long is already warm.
FLUSH_AT_READS = 64


class ReceiveBatch:
    """Reads of any number of :class:`HubReceiver` s, parsed and handled together at most ``delay_s`` later.

    One per hub (a Locust process has one), shared by all its receivers: batching across sockets is the point.
    """

    def __init__(self, delay_s: float) -> None:
        if not delay_s > 0:
            raise ValueError(f"a receive batch needs a delay > 0 s, got {delay_s}")
        self.delay_s = delay_s
        self._reads: list[tuple[HubReceiver, bytes, int]] = []
        self._timer: Any = None

    def __len__(self) -> int:
        return len(self._reads)

    def add(self, receiver: HubReceiver, data: bytes, now_ns: int) -> None:
        reads = self._reads
        if not reads:
            # A fresh timer per batch: a libev timer restarted after it fired goes off at once. The loop's clock
            # is brought up to date first: libev counts a timer from the time the loop last woke, which is stale
            # by however long the hub, or the greenlet calling this, has run since, and the batch would go off
            # that much early.
            timer = self._timer = get_hub().loop.timer(self.delay_s)
            timer.start(self.flush, update=True)
        reads.append((receiver, data, now_ns))
        if len(reads) >= FLUSH_AT_READS:
            self.flush()

    def flush(self) -> None:
        """Parse and handle every read so far, oldest first (in the hub, or in a greenlet that must not yield)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()
        while self._reads:
            reads, self._reads = self._reads, []
            for receiver, data, now_ns in reads:
                receiver._handle(data, now_ns)


class RepeatReads:
    """Tokens of reads that held exactly one whole data frame, by the read's bytes (see the module's docstring).

    Args:
        max_reads: reads remembered at most; then it starts again with none, so a run of distinct messages
            (an echo test) costs a bounded amount of memory.
        max_bytes: longer reads are never remembered nor looked up: hashing a large read on every arrival
            would cost more than parsing it, and few large messages are repeated.
    """

    def __init__(self, max_reads: int = 256, max_bytes: int = 4096) -> None:
        if max_reads < 1 or max_bytes < 1:
            raise ValueError(f"max_reads and max_bytes must be >= 1, got {max_reads} and {max_bytes}")
        self.max_reads = max_reads
        self.max_bytes = max_bytes
        self._tokens: dict[bytes, object] = {}
        # The dict's own method: looked up on every read, so no Python frame of ours around it.
        self.get: Callable[[bytes], object | None] = self._tokens.get

    def __len__(self) -> int:
        return len(self._tokens)

    def remember(self, data: bytes, token: object) -> None:
        tokens = self._tokens
        if len(tokens) >= self.max_reads:
            tokens.clear()
        tokens[data] = token


class HubReceiver:
    """Delivers every message of ``conn`` to ``on_message``, then the end of the connection to ``on_closed``.

    Args:
        conn: an open connection; nothing else may read it while the receiver runs.
        on_message: called in the hub for each message, in order; must not block. What it returns is the
            message's token for ``repeats`` (None: handle equal messages through ``on_message`` again).
        on_closed: called once, in a greenlet, when the connection has ended (not after :meth:`stop`).
        batch: handle reads in this batch instead of at once (see the module's docstring).
        repeats: handle reads equal to an earlier single-frame read through ``on_repeat`` (module docstring).
        on_repeat: ``on_repeat(token, read_ns)``, in place of ``on_message`` for such a read; must not block.

    Raises:
        ValueError: if only one of ``repeats`` and ``on_repeat`` is given.
    """

    def __init__(
        self,
        conn: WsConnection,
        on_message: Callable[[Message], object],
        on_closed: Callable[[Closed], None],
        batch: ReceiveBatch | None = None,
        *,
        repeats: RepeatReads | None = None,
        on_repeat: Callable[[object, int], None] | None = None,
    ) -> None:
        if (repeats is None) != (on_repeat is None):
            raise ValueError("repeats and on_repeat go together: give both or neither")
        self.conn = conn
        self.on_message = on_message
        self.on_closed = on_closed
        self.batch = batch
        self.repeats = repeats
        self.on_repeat = on_repeat
        self._handed_over = False
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
        # Frames that came in the same read as the 101 response were parsed by the handshake: without this they
        # would wait for the socket's next read, which may come much later or never (a chat room's welcome and
        # the member's own join announcement, behind Daphne's 101).
        self._dispatch(self.conn.take_messages())
        watcher = get_hub().loop.io(self._raw.fileno(), _READ)
        watcher.start(self._readable)
        self._watcher = watcher
        return self

    def stop(self) -> None:
        """Stop delivering (the connection stays as it is, for the caller to close).

        What was read before is handled first: a message read is a message delivered.
        """
        if self.batch is not None and self.batch:
            self.batch.flush()
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
        now_ns = time.monotonic_ns()
        batch = self.batch
        if batch is None:
            self._handle(data, now_ns)
            return
        if not data:
            self._stop_watcher()  # the end stays readable: without this, every loop would queue it again
        batch.add(self, data, now_ns)

    def _handle(self, data: bytes, now_ns: int) -> None:
        """Parse one read and hand its messages on (at once, or from the batch in read order)."""
        conn = self.conn
        repeats = self.repeats
        # Whether this read may be remembered: looked up first, at a frame boundary, and not too long.
        single = False
        if repeats is not None and 0 < len(data) <= repeats.max_bytes and conn.at_frame_boundary:
            token = repeats.get(data)
            if token is not None:
                try:
                    self.on_repeat(token, now_ns)  # type: ignore[misc]  # given with repeats (__init__)
                except Exception:
                    log.exception("message handler failed on a repeat of %r", token)
                return
            single = True
        core = conn.receive_data(data, now_ns)
        messages = conn.take_messages()
        if single and not core and len(messages) == 1 and conn.at_frame_boundary:
            # One message and nothing left over: the read was exactly one whole data frame.
            token = self._dispatch_one(messages[0])
            if token is not None:
                assert repeats is not None
                repeats.remember(data, token)
        else:
            self._dispatch(messages)
        if not core or self._handed_over:
            # Once handed over, only reads queued before that are fed here, before the greenlet reads on.
            return
        if not conn.is_open:
            # The closing handshake reads and writes with waits: a greenlet's job.
            self._handed_over = True
            self._stop_watcher()
            self._spawn(self._receive_in_greenlet)
        elif conn.has_data_to_send():
            self._spawn(conn.flush)

    def _dispatch(self, messages: list[Message]) -> None:
        for message in messages:
            self._dispatch_one(message)

    def _dispatch_one(self, message: Message) -> object:
        try:
            return self.on_message(message)
        except Exception:
            # A handler bug must not stop the hub nor the other messages; Locust logs task errors alike.
            log.exception("message handler failed on %r", message)
            return None

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
