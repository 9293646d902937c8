"""Locust users that load a Django Channels app over WebSockets, and the Locust event wiring.

Each user drives :mod:`harness.wsclient` (blocking, gevent-patched sockets; never an asyncio loop)
and receives in a greenlet of its own per socket, so sending follows its schedule whatever the
server does. Sends follow an open-model schedule from :mod:`harness.schedule`: every message has an
intended send time fixed in advance, and its envelope (:mod:`harness.envelope`) carries run id,
sender, per-sender seq, intended and actual send time. Results go to the process's
:class:`~harness.aggregation.Collector`; the master merges them (see ``docs/generator.md``).

User classes (``--harness-kind`` picks them when none are named on the command line):

* ``echo``: :class:`EchoUser` (the server returns each message to its sender).
* ``broadcast``: :class:`BroadcastUser` (every message reaches every member of the same URL).
* ``chat``: :class:`ChatUser` (the reference app's chat rooms, envelope in the ``client`` field).
* ``notifications``: :class:`NotificationListenerUser` plus :class:`NotificationPublisherUser`
  (drives ``POST /api/notifications/``, envelope in ``data``).
* ``kiosk``: :class:`KioskUser` (waits for punches on a terminal socket).
* ``connect-storm``: :class:`ConnectStormUser` (opens and closes sockets on a schedule).
"""

from __future__ import annotations

# Locust monkey-patches the standard library with gevent when imported; that has to happen before
# anything below creates sockets, locks or threads, so this import must stay first.
import locust  # isort: split

import argparse
import gc
import http.client
import itertools
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final, cast
from urllib.parse import urlsplit

import gevent
import gevent.lock
import gevent.pool
import orjson
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.accounting import ConnectFailureKind
from harness.aggregation import (
    LIVE_WINDOW_S,
    Aggregator,
    Collector,
    HealthThresholds,
    build_result,
    live_figures,
    snapshot_seconds,
)
from harness.envelope import Envelope, Foreign, decode_envelope, encode_envelope
from harness.hub_receiver import HubReceiver, ReceiveBatch, RepeatReads
from harness.schedule import Pacer, Schedule, build_schedule, parse_stages
from harness.user_numbers import user_index
from harness.wsclient import Closed, ConnectFailure, Message, WsConnection, connect

__all__ = [
    "KIND_CLASSES",
    "KINDS",
    "BroadcastUser",
    "ChatUser",
    "ConnectStormUser",
    "EchoUser",
    "HarnessConfig",
    "KioskUser",
    "NotificationListenerUser",
    "NotificationPublisherUser",
    "UserStepsShape",
    "add_arguments",
    "listen",
    "on_init",
]

log = logging.getLogger("harness.locust")

KINDS: Final = ("echo", "broadcast", "chat", "notifications", "kiosk", "connect-storm")
KIND_CLASSES: Final[dict[str, tuple[str, ...]]] = {
    "echo": ("EchoUser",),
    "broadcast": ("BroadcastUser",),
    "chat": ("ChatUser",),
    "notifications": ("NotificationListenerUser", "NotificationPublisherUser"),
    "kiosk": ("KioskUser",),
    "connect-storm": ("ConnectStormUser",),
}
#: ``ramp`` and ``steps`` are the older spelling of ``--harness-shape`` with constant arrivals, still accepted.
ARRIVALS: Final = ("constant", "poisson", "ramp", "steps")
SHAPES: Final = ("constant", "ramp", "steps")
#: How long a user keeps sending when --harness-send-seconds is 0: until Locust stops it.
_FOREVER_S: Final = 10 * 24 * 3600.0
#: Locust's wait between a user's tasks once its session has run. The user then only receives (in the hub), so
#: its greenlet has nothing to do; a wait in Locust's wait() is cut short when Locust stops the user, so it can
#: be long. (Waking every second instead cost 50 idle users a few ms of CPU per second.)
_IDLE_WAIT_S: Final = 3600.0
#: Default of --harness-receive-batch-ms (docs/generator.md, "Receiving in batches"; figures in docs/performance.md).
DEFAULT_RECEIVE_BATCH_MS: Final = 10.0
MAX_RECEIVE_BATCH_MS: Final = 1000.0


@dataclass(frozen=True, slots=True)
class HarnessConfig:
    """The resolved ``--harness-*`` options (see :func:`add_arguments` for their meaning)."""

    target: str
    kind: str
    rate: float
    rate_end: float
    steps: str
    arrival: str
    shape: str
    run_id: str
    credentials: str
    room_size: int
    payload_bytes: int
    out: str
    send_seconds: float
    warmup_s: float
    max_inflight: int
    origin: str
    publishers: int
    storm_hold_s: float
    cpu_limit: float
    lag_limit_ms: float
    burn_us: int
    final_timeout_s: float
    seed: int
    worker_count: int
    receive_batch_ms: float
    live: str

    @classmethod
    def from_options(cls, opts: Any) -> HarnessConfig:
        def get(name: str) -> Any:
            return getattr(opts, f"harness_{name}")

        target = str(get("target") or "")
        origin = str(get("origin") or "") or _origin_of(target)
        return cls(
            target=target,
            kind=str(get("kind")),
            rate=float(get("rate")),
            rate_end=float(get("rate_end")),
            steps=str(get("steps") or ""),
            arrival=str(get("arrival")),
            shape=str(get("shape")),
            run_id=str(get("run_id") or ""),
            credentials=str(get("credentials") or ""),
            room_size=int(get("room_size")),
            payload_bytes=int(get("payload_bytes")),
            out=str(get("out") or ""),
            send_seconds=float(get("send_seconds")),
            warmup_s=float(get("warmup")),
            max_inflight=int(get("max_inflight")),
            origin=origin,
            publishers=int(get("publishers")),
            storm_hold_s=float(get("storm_hold")),
            cpu_limit=float(get("cpu_limit")),
            lag_limit_ms=float(get("lag_limit_ms")),
            burn_us=int(get("burn_us")),
            final_timeout_s=float(get("final_timeout")),
            seed=int(get("seed")),
            worker_count=int(get("worker_count")),
            receive_batch_ms=float(get("receive_batch_ms")),
            live=str(get("live") or ""),
        )

    def schedule(self, seed: int) -> Schedule:
        """The send schedule of one user (or of one publisher / storm user)."""
        return build_schedule(
            arrival=self.arrival,
            shape=self.shape,
            rate=self.rate,
            rate_end=self.rate_end,
            stages=parse_stages(self.steps),
            duration_s=self.send_seconds if self.send_seconds > 0 else _FOREVER_S,
            seed=seed,
        )

    def thresholds(self) -> HealthThresholds:
        return HealthThresholds(cpu_percent=self.cpu_limit, send_lag_p99_ms=self.lag_limit_ms)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}" if parts.netloc else ""


def _batch_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds (a number), got {text!r}") from None
    if not 0 <= value <= MAX_RECEIVE_BATCH_MS:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_RECEIVE_BATCH_MS:g} ms, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser, **_kwargs: Any) -> None:
    """Locust ``init_command_line_parser`` listener: the ``--harness-*`` options.

    Each option can also be set with the environment variable named after it
    (``--harness-rate`` → ``HARNESS_RATE``); the master passes them on to its workers.
    """
    group = parser.add_argument_group("channels-harness")

    def add(name: str, **kwargs: Any) -> None:
        env = "HARNESS_" + name.upper().replace("-", "_")
        group.add_argument(f"--harness-{name}", env_var=env, **kwargs)

    add("target", default="", help="WebSocket URL (echo/broadcast) or ws://host:port of the reference app")
    add("kind", default="echo", choices=KINDS, help="which users to run when no user class is named")
    add("rate", type=float, default=1.0, help="messages (or connects) per second per user")
    add(
        "rate-end",
        type=float,
        default=0.0,
        help="final rate of a one-stage --harness-shape ramp without --harness-steps",
    )
    add(
        "steps",
        default="",
        help="'rate:seconds,rate:seconds': the stages of --harness-shape steps (each rate held) or ramp (each rate "
        "reached at the end of its stage, starting from --harness-rate)",
    )
    add(
        "arrival",
        default="constant",
        choices=ARRIVALS,
        help="send times of each user: evenly spaced (constant) or Poisson (seeded by --harness-seed); 'ramp' and "
        "'steps' are the old spelling of --harness-shape with constant arrivals",
    )
    add("shape", default="constant", choices=SHAPES, help="the rate over time: constant, ramp or steps")
    add("run-id", default="", help="run id in every envelope (default: generated by the master)")
    add("credentials", default="", help="reference-app credentials JSON (users, rooms, terminals, tokens)")
    add("room-size", type=int, default=0, help="users per room/URL (0: all users share one)")
    add("payload-bytes", type=int, default=0, help="pad each message to this many bytes (0: no padding)")
    add("out", default="", help="path of the merged result JSON written at test stop")
    add(
        "live",
        default="",
        help="path of a JSON file the master (or local runner) rewrites every second with the figures of the last "
        f"{LIVE_WINDOW_S} whole seconds (msgs/s, response- and service-time p99, connections, errors); '' for none",
    )
    add("send-seconds", type=float, default=0.0, help="each user sends this long, then only receives (0: no end)")
    add("warmup", type=float, default=1.0, help="seconds between connecting and the first send")
    add("max-inflight", type=int, default=0, help="unanswered own messages per user before sending waits (0: none)")
    add("origin", default="", help="Origin header (default: derived from the target)")
    add("publishers", type=int, default=1, help="notification publisher users")
    add("storm-hold", type=float, default=0.0, help="connect-storm: seconds each socket stays open")
    add("cpu-limit", type=float, default=85.0, help="generator_bound above this mean CPU percent")
    add("lag-limit-ms", type=float, default=5.0, help="generator_bound above this send-lag p99")
    add("burn-us", type=int, default=0, help="test only: burn this much CPU per sent message")
    add("final-timeout", type=float, default=15.0, help="seconds the master waits for workers' final reports")
    add("seed", type=int, default=1, help="seed of Poisson schedules")
    add(
        "receive-batch-ms",
        type=_batch_ms,
        default=DEFAULT_RECEIVE_BATCH_MS,
        help="parse and handle received messages in batches at most this late; every message is still timed when "
        "it is read (0: handle each read at once; closed-loop senders, --harness-max-inflight, always do)",
    )
    add(
        "worker-count",
        type=int,
        default=0,
        help="set by the master at test start (workers connected then); workers number their users by it",
    )


# -- per-process runtime -------------------------------------------------------------------


class _Runtime:
    """What one Locust process shares between its users and its event listeners."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            self.role, self.process_id = "master", "master"
        elif isinstance(runner, WorkerRunner):
            self.role, self.process_id = "worker", str(runner.client_id)
        else:
            self.role, self.process_id = "local", "local"
        self.tag = f"{socket.gethostname()}-{os.getpid()}"
        self.config: HarnessConfig | None = None
        self.collector: Collector | None = None
        self.aggregator: Aggregator | None = None
        #: Shared by every receiver of this process (None: each read is handled at once).
        self.receive_batch: ReceiveBatch | None = None
        self._sampler: gevent.Greenlet | None = None
        self._live: gevent.Greenlet | None = None
        self._counter = itertools.count()
        self._credentials: dict[str, Any] | None = None

    def next_index(self) -> int:
        return next(self._counter)

    def global_index(self, local: int) -> int:
        """This process's ``local``-th user's number across all generator processes (see :func:`user_index`)."""
        runner = self.environment.runner
        if not isinstance(runner, WorkerRunner):
            return local
        assert self.config is not None
        return user_index(local, int(runner.worker_index), self.config.worker_count)

    def credentials(self) -> dict[str, Any]:
        if self._credentials is None:
            assert self.config is not None
            if not self.config.credentials:
                raise RuntimeError(f"--harness-kind {self.config.kind} needs --harness-credentials")
            self._credentials = json.loads(Path(self.config.credentials).read_text())
        return self._credentials

    def start(self) -> None:
        opts = self.environment.parsed_options
        self.config = HarnessConfig.from_options(opts)
        self.collector = Collector(run_id=self.config.run_id, process_id=self.process_id, role=self.role)
        if self.role == "master":
            self.aggregator = Aggregator(run_id=self.config.run_id)
        if self.config.receive_batch_ms > 0:
            self.receive_batch = ReceiveBatch(self.config.receive_batch_ms / 1000)
        self._sampler = gevent.spawn(self._sample_cpu, self.collector)
        if self.config.live and self.role != "worker":
            self._live = gevent.spawn(self._write_live, Path(self.config.live))

    def _sample_cpu(self, collector: Collector) -> None:
        # CPU time of the whole process (every thread) over wall time, in percent of one core: what psutil's
        # Process.cpu_percent() reports, without the /proc reads it makes on every call.
        last_cpu, last_wall = time.process_time(), time.monotonic()
        while True:
            gevent.sleep(1.0)
            cpu, wall = time.process_time(), time.monotonic()
            if wall > last_wall:
                collector.sample_cpu(100.0 * (cpu - last_cpu) / (wall - last_wall))
            last_cpu, last_wall = cpu, wall

    def _write_live(self, path: Path) -> None:
        # Rewritten whole and renamed into place, so the reader never sees half a file.
        tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            gevent.sleep(1.0)
            now = int(time.time())
            if self.aggregator is None:
                assert self.collector is not None
                processes, end = [list(self.collector.series.items())], now
            else:
                # Workers report every few seconds: the window ends where the least recent report does.
                snapshots = self.aggregator.snapshots()
                end = min((int(s["taken_at"]) for s in snapshots), default=now)
                processes = [snapshot_seconds(s, decode_from=end - LIVE_WINDOW_S) for s in snapshots]
            figures = live_figures(processes, end=end)
            runner = self.environment.runner
            users = int(runner.user_count) if runner is not None else 0
            tmp.write_bytes(orjson.dumps({"users": users, **figures.to_dict()}))
            os.replace(tmp, path)

    def stop_sampler(self) -> None:
        for greenlet in (self._sampler, self._live):
            if greenlet is not None:
                greenlet.kill(block=False)
        self._sampler = self._live = None


_runtime: _Runtime | None = None


def _rt() -> _Runtime:
    if _runtime is None or _runtime.collector is None or _runtime.config is None:
        raise RuntimeError("harness users need the harness locustfile (harness/locustfile.py) and a started test")
    return _runtime


# -- event listeners -----------------------------------------------------------------------


def on_init(environment: Environment, **_kwargs: Any) -> None:
    """Locust ``init`` listener: per-process runtime, run id, user classes of ``--harness-kind``."""
    global _runtime
    runtime = _runtime = _Runtime(environment)
    opts = environment.parsed_options
    events = environment.events
    if opts is not None and runtime.role in ("master", "local"):
        if not opts.harness_run_id:
            # Generated once here; the master sends its options to the workers with every spawn.
            opts.harness_run_id = uuid.uuid4().hex[:12]
        if not getattr(opts, "user_classes", None):
            # Workers spawn what the master names, so only the deciding process narrows the classes.
            wanted = KIND_CLASSES[opts.harness_kind]
            environment.user_classes[:] = [c for c in environment.user_classes if c.__name__ in wanted]
        publisher = environment.user_classes_by_name.get("NotificationPublisherUser")
        if publisher is not None:
            publisher.fixed_count = max(0, int(opts.harness_publishers))
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("harness_stop", _on_harness_stop)
    listen(events.test_start, _on_test_start)
    listen(events.test_stop, _on_test_stop)
    listen(events.report_to_master, _on_report_to_master)
    listen(events.worker_report, _on_worker_report)


def listen(hook: Any, listener: Callable[..., None]) -> None:
    """Add ``listener`` to a Locust event hook (``EventHook.add_listener`` is untyped)."""
    hook.add_listener(listener)


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    assert _runtime is not None
    # What exists now (Locust, gevent, our modules) lives for the whole run; moving it out of the collector's
    # generations keeps full collections from walking it again and again during the test.
    gc.freeze()
    runner = environment.runner
    if isinstance(runner, MasterRunner) and environment.parsed_options is not None:
        # The master fires test_start before it sends the first spawn messages, which carry its options.
        environment.parsed_options.harness_worker_count = runner.worker_count
    _runtime.start()


def _on_report_to_master(client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
    if _runtime is not None and _runtime.collector is not None:
        _runtime.collector.report_to_master(client_id, data, **kwargs)


def _on_worker_report(client_id: str, data: dict[str, Any], **kwargs: Any) -> None:
    if _runtime is not None and _runtime.aggregator is not None:
        _runtime.aggregator.worker_report(client_id, data, **kwargs)


def _on_harness_stop(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    # The master asks for our final report when its own test_stop comes first (a headless
    # --run-time end quits the master before it stops the workers).
    runner: Any = environment.runner
    runner.stop()


def _on_test_stop(environment: Environment, **_kwargs: Any) -> None:
    runtime = _runtime
    if runtime is None or runtime.collector is None or runtime.config is None:
        return
    runtime.stop_sampler()
    if runtime.receive_batch is not None:
        # Messages read but not yet handled belong in the final counts.
        runtime.receive_batch.flush()
    cfg = runtime.config
    if runtime.role == "worker":
        runtime.collector.final = True
        # Locust's own way to flush a report (it does the same on "quit"): our report_to_master
        # listener adds the final snapshot, and the message is queued before "client_stopped".
        runner: Any = environment.runner
        runner._send_stats()
        return
    if runtime.role == "local":
        snapshots = [runtime.collector.snapshot(final=True)]
        incomplete: list[str] = []
        mode = "local"
    else:
        snapshots, incomplete = _collect_finals(environment, runtime, cfg)
        mode = "distributed"
    result = build_result(
        snapshots,
        run_id=cfg.run_id,
        mode=mode,
        thresholds=cfg.thresholds(),
        config=asdict(cfg),
        incomplete=incomplete,
    )
    if result["generator_health"]["generator_bound"]:
        for reason in result["generator_health"]["generator_bound_reasons"]:
            log.warning("generator_bound: %s", reason)
    if cfg.out:
        path = Path(cfg.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        log.info("harness result written to %s", path)


def _collect_finals(
    environment: Environment, runtime: _Runtime, cfg: HarnessConfig
) -> tuple[list[dict[str, Any]], list[str]]:
    runner: Any = environment.runner
    aggregator = runtime.aggregator
    assert aggregator is not None and runtime.collector is not None
    clients = [c.id for c in runner.clients.all]
    for client_id in clients:
        runner.send_message("harness_stop", None, client_id)
    deadline = time.monotonic() + cfg.final_timeout_s
    while True:
        waiting = (set(clients) | set(aggregator.latest)) - aggregator.final_from()
        if not waiting or time.monotonic() > deadline:
            break
        gevent.sleep(0.1)
    if waiting:
        log.error(
            "no final report from %s within %s s; using their last periodic one", sorted(waiting), cfg.final_timeout_s
        )
    snapshots = aggregator.snapshots() + [runtime.collector.snapshot(final=True)]
    return snapshots, sorted(waiting)


# -- users ---------------------------------------------------------------------------------


def _failure_kind(exc: ConnectFailure) -> ConnectFailureKind:
    if exc.kind == "http_status":
        return "http_403" if exc.status == 403 else "handshake_error"
    if exc.kind in ("refused", "timeout", "handshake_error"):
        return exc.kind
    return "other"


def _burn(microseconds: int) -> None:
    end = time.perf_counter_ns() + microseconds * 1000
    while time.perf_counter_ns() < end:
        pass


class _HarnessUser(locust.User):
    """Common machinery: one session per user, then idle until Locust stops it."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._done = False
        self._stopping = False
        self._sockets: list[WsConnection] = []
        self._receivers: list[HubReceiver] = []
        self._greenlets = gevent.pool.Group()

    def on_start(self) -> None:
        runtime = _rt()
        self.runtime = runtime
        self.cfg: HarnessConfig = runtime.config  # type: ignore[assignment]
        self.collector: Collector = runtime.collector  # type: ignore[assignment]
        self.index = runtime.global_index(runtime.next_index())
        self.uid = f"{runtime.tag}-{self.index}"

    def wait_time(self) -> float:
        # The session starts at once; after it the user stays connected (its receivers keep counting in-flight
        # messages) and idles in Locust's interruptible wait.
        return _IDLE_WAIT_S if self._done else 0.0

    @locust.task
    def session(self) -> None:
        if not self._done:
            self._done = True
            self.run_session()

    def run_session(self) -> None:
        """Open this user's sockets and run its schedule; each concrete user class defines it."""
        raise NotImplementedError(f"{type(self).__name__} defines no run_session")

    def on_stop(self) -> None:
        self._stopping = True
        # Receivers must be gone before close() reads the same sockets.
        for receiver in self._receivers:
            receiver.stop()
        self._greenlets.kill(block=True, timeout=2.0)
        for conn in list(self._sockets):
            self.close_socket(conn)

    # -- helpers ---------------------------------------------------------------------------
    def fire(self, name: str, response_time_ms: float, length: int = 0, exc: BaseException | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=response_time_ms,
            response_length=length,
            exception=exc,
            context={},
        )

    def open_socket(
        self, url: str, *, cookies: Mapping[str, str] | None = None, name: str = "connect"
    ) -> WsConnection | None:
        started = time.perf_counter_ns()
        try:
            conn = connect(url, origin=self.cfg.origin or None, cookies=cookies, timeout=10.0)
        except ConnectFailure as exc:
            self.collector.record_connect_failure(_failure_kind(exc))
            self.fire(name, (time.perf_counter_ns() - started) / 1e6, exc=exc)
            return None
        total = conn.connect_timing.total_ns
        self.collector.metrics.record_ns("connect", total)
        self.fire(name, total / 1e6)
        self._sockets.append(conn)
        self.collector.connection_opened()
        return conn

    def close_socket(self, conn: WsConnection) -> None:
        """Close ``conn`` (if this user still holds it) and count it closed once, whoever ended it."""
        if conn in self._sockets:
            self._sockets.remove(conn)
            self.collector.connection_closed()
        conn.close()

    def spawn_receiver(
        self,
        conn: WsConnection,
        handle: Callable[[Message], object],
        *,
        at_once: bool = False,
        repeats: RepeatReads | None = None,
        on_repeat: Callable[[object, int], None] | None = None,
    ) -> None:
        """Deliver each message of ``conn`` to ``handle``, which runs in gevent's hub and must not block.

        Messages are handled in the process's receive batch unless ``at_once`` (or --harness-receive-batch-ms 0);
        either way ``Message.received_ns`` is the time of the read. ``repeats`` and ``on_repeat``: see
        :class:`~harness.hub_receiver.HubReceiver`.
        """
        batch = None if at_once else self.runtime.receive_batch

        def on_closed(exc: Closed) -> None:
            self._on_closed(conn, exc)

        receiver = HubReceiver(conn, handle, on_closed, batch, repeats=repeats, on_repeat=on_repeat)
        self._receivers.append(receiver.start())

    def _on_closed(self, conn: WsConnection, exc: Closed) -> None:
        if not self._stopping:
            self.collector.record_close(exc.code)
            self.fire("unexpected_close", 0.001, exc=exc)
            self.close_socket(conn)

    def pace(self, send_one: Callable[[int, int], bool], *, seed: int) -> None:
        """Walk the schedule: wait for each slot, then ``send_one(seq, intended_ns)``; stop on False."""
        pacer = Pacer(self.cfg.schedule(seed), time.monotonic_ns())
        while (slot := pacer.next_slot(time.monotonic_ns())) is not None:
            if slot.wait_ns:
                gevent.sleep(slot.wait_ns / 1e9)
            if not send_one(slot.seq, slot.intended_ns):
                return


_MISSING: Final = object()
#: Distinct payloads whose decoded envelope a user class keeps (then it starts again with none).
_UNWRAPPED_MAX: Final = 256


class _EnvelopeUser(_HarnessUser):
    """A socket that sends envelopes on a schedule and accounts for every envelope it receives."""

    abstract = True
    # Payload -> what unwrap() made of it, per class (classes unwrap differently). A message sent to a room
    # reaches every member in this process as equal bytes: decoded once, not once per member.
    _unwrapped: ClassVar[dict[str | bytes, Envelope | Foreign | None]] = {}
    # Reads holding one whole frame, by their bytes: an equal read on another member's socket skips parsing and
    # decoding too (see harness.hub_receiver). The tokens are (envelope, length), the same for every member.
    _repeats: ClassVar[RepeatReads] = RepeatReads()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._unwrapped = {}
        cls._repeats = RepeatReads()

    def on_start(self) -> None:
        super().on_start()
        self._window = gevent.lock.BoundedSemaphore(self.cfg.max_inflight) if self.cfg.max_inflight > 0 else None
        self._released: set[int] = set()

    def url(self) -> str:
        return self.cfg.target

    def group(self) -> str:
        """The delivery group this user's messages go to (echo: itself; chat: its room); defined per class."""
        raise NotImplementedError(f"{type(self).__name__} defines no group")

    def cookies(self) -> Mapping[str, str] | None:
        return None

    def wrap(self, envelope: Envelope) -> bytes:
        """The message carrying ``envelope``; the whole message is the envelope by default."""
        return encode_envelope(envelope, pad_to=self.cfg.payload_bytes or None)

    def unwrap(self, message: Message) -> Envelope | Foreign | None:
        """The envelope in a received message, Foreign if it is not one, None to ignore it.

        It must depend on the payload and the run's settings only: its result is reused for equal payloads
        received by any user of the class.
        """
        return decode_envelope(message.data, run_id=self.cfg.run_id)

    def run_session(self) -> None:
        conn = self.open_socket(self.url(), cookies=self.cookies())
        if conn is None:
            return
        group = self.group()
        self.collector.join(self.uid, group)
        # A closed-loop sender waits for its own reply: that must release the window at once.
        self.spawn_receiver(
            conn,
            self.on_message,
            at_once=self._window is not None,
            repeats=self._repeats,
            on_repeat=self._on_envelope,
        )
        gevent.sleep(self.cfg.warmup_s)

        def send_one(seq: int, intended_ns: int) -> bool:
            # Time spent waiting for a reply (max-inflight) is the server holding the sender back,
            # not the generator falling behind, so send lag counts only from when the window opened.
            ready_ns = intended_ns
            if self._window is not None and not self._window.acquire(blocking=False):
                self._window.acquire()
                ready_ns = max(intended_ns, time.monotonic_ns())
            sent_ns = time.monotonic_ns()
            data = self.wrap(Envelope(self.cfg.run_id, self.uid, seq, intended_ns, sent_ns))
            if self.cfg.burn_us:
                _burn(self.cfg.burn_us)
            try:
                conn.send_text(data)
            except Closed:
                return False  # the receiver greenlet reports the close
            self.collector.record_send(self.uid, group, sent_ns - ready_ns)
            return True

        self.pace(send_one, seed=self.cfg.seed * 1_000_003 + self.index)

    def on_message(self, message: Message) -> tuple[Envelope, int] | None:
        """Account and time one message; returns its token for repeats of it (None for what is not ours)."""
        cache = self._unwrapped
        data = message.data
        found = cache.get(data, _MISSING)
        if found is _MISSING:
            envelope = self.unwrap(message)
            if len(cache) >= _UNWRAPPED_MAX:
                cache.clear()
            cache[data] = envelope
        else:
            envelope = cast(Envelope | Foreign | None, found)
        if envelope is None:
            return None
        if isinstance(envelope, Foreign):
            self.collector.ledger.record_foreign(envelope.reason)
            return None
        token = (envelope, len(message.data))
        self._on_envelope(token, message.received_ns)
        return token

    def _on_envelope(self, token: Any, received: int) -> None:
        """Account and time one envelope received at ``received``; ``token`` is (envelope, message length)."""
        # Any, not a cast(): this runs for every delivery, and cast() is a call.
        envelope: Envelope
        length: int
        envelope, length = token
        uid = self.uid
        sender = envelope.sender
        if not self.collector.record_envelope(
            sender, uid, envelope.seq, received, envelope.sent_ns, envelope.intended_ns
        ):
            return
        if sender == uid:
            service = received - envelope.sent_ns
            # Only the sender's own copy feeds Locust's stats (one entry per message sent, as a plain Locust user
            # has), keeping Locust's per-event bookkeeping off the per-delivery path; every fan-out delivery is
            # still in our histograms and ledger.
            self.fire("round_trip", service / 1e6, length)
            if self._window is not None:
                self._window.release()


class EchoUser(_EnvelopeUser):
    """Sends envelopes to ``--harness-target``; the server returns each one to its sender."""

    def group(self) -> str:
        return f"echo:{self.uid}"


class BroadcastUser(_EnvelopeUser):
    """Members of one URL; every message sent by a member reaches every member (itself included).

    With ``--harness-room-size N`` users are grouped N per URL: ``<target>/room-<k>``.
    """

    def url(self) -> str:
        if self.cfg.room_size <= 0:
            return self.cfg.target
        return f"{self.cfg.target.rstrip('/')}/room-{self.index // self.cfg.room_size}"

    def group(self) -> str:
        return f"broadcast:{self.url()}"


class ChatUser(_EnvelopeUser):
    """A reference-app chat member: session cookie, ``ws/chat/<room>/``, envelope in ``client``."""

    def on_start(self) -> None:
        super().on_start()
        creds = self.runtime.credentials()
        self.account = creds["users"][self.index % len(creds["users"])]
        rooms = creds["rooms"]
        size = self.cfg.room_size if self.cfg.room_size > 0 else len(creds["users"])
        self.room = rooms[(self.index // size) % len(rooms)]["slug"]
        self.cookie_name = str(creds.get("session_cookie_name", "sessionid"))

    def url(self) -> str:
        return f"{self.cfg.target.rstrip('/')}/ws/chat/{self.room}/"

    def group(self) -> str:
        return f"chat:{self.room}"

    def cookies(self) -> Mapping[str, str]:
        return {self.cookie_name: self.account["session"]}

    def wrap(self, envelope: Envelope) -> bytes:
        body = {"type": "message", "text": "x", "client": envelope.to_dict()}
        data = orjson.dumps(body)
        if self.cfg.payload_bytes > len(data):
            body["text"] = "x" * (1 + self.cfg.payload_bytes - len(data))
            data = orjson.dumps(body)
        return data

    def unwrap(self, message: Message) -> Envelope | Foreign | None:
        try:
            obj = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            return Foreign("not_json", "chat frame is not JSON")
        if not isinstance(obj, dict) or obj.get("type") != "message":
            return None  # welcome, presence, pong: protocol traffic, not load
        client = obj.get("client")
        if not isinstance(client, dict):
            return Foreign("missing_key", "chat message without our client field")
        return decode_envelope(client, run_id=self.cfg.run_id)


class NotificationListenerUser(_HarnessUser):
    """A reference-app user on ``ws/notifications/``; counts notifications whose ``data`` is an envelope."""

    def on_start(self) -> None:
        super().on_start()
        creds = self.runtime.credentials()
        self.account = creds["users"][self.index % len(creds["users"])]
        self.cookie_name = str(creds.get("session_cookie_name", "sessionid"))

    def run_session(self) -> None:
        url = f"{self.cfg.target.rstrip('/')}/ws/notifications/"
        conn = self.open_socket(url, cookies={self.cookie_name: self.account["session"]})
        if conn is None:
            return
        self.collector.join(self.uid, f"notify:{self.account['username']}")
        self.spawn_receiver(conn, self.on_message)

    def on_message(self, message: Message) -> None:
        try:
            obj = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            self.collector.ledger.record_foreign("not_json")
            return
        if not isinstance(obj, dict):
            return
        if obj.get("type") == "notification":
            items = [obj]
        elif obj.get("type") == "backlog":
            items = [i for i in obj.get("items", []) if isinstance(i, dict)]
        else:
            return
        for item in items:
            envelope = decode_envelope(item.get("data") or {}, run_id=self.cfg.run_id)
            if isinstance(envelope, Foreign):
                self.collector.ledger.record_foreign(envelope.reason)
                continue
            if self.collector.ledger.observe(envelope.sender, self.uid, envelope.seq) == "duplicate":
                continue
            latency = message.received_ns - envelope.sent_ns
            response = message.received_ns - envelope.intended_ns
            self.collector.metrics.record_ns("fanout", latency)
            self.collector.metrics.record_ns("response_time", response)
            self.collector.record_delivery(latency, response)
            self.fire("notification", latency / 1e6, len(message.data))


class NotificationPublisherUser(_HarnessUser):
    """Publishes through ``POST /api/notifications/`` with a service token, round robin over users.

    Targets the first ``--harness-room-size`` users of the credentials file (all when 0). Each
    (publisher, recipient) pair is its own stream, with its own seqs.
    """

    fixed_count = 1

    def run_session(self) -> None:
        creds = self.runtime.credentials()
        token = creds["service_tokens"][self.index % len(creds["service_tokens"])]["token"]
        users = creds["users"][: self.cfg.room_size or None]
        parts = urlsplit(self.cfg.target)
        http_conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
        seqs: dict[str, int] = {}
        targets = itertools.cycle(users)

        def send_one(_seq: int, intended_ns: int) -> bool:
            user = next(targets)
            name = str(user["username"])
            sender = f"{self.uid}>{name}"
            seq = seqs.get(name, 0)
            seqs[name] = seq + 1
            sent_ns = time.monotonic_ns()
            envelope = Envelope(self.cfg.run_id, sender, seq, intended_ns, sent_ns)
            body = orjson.dumps({"user": name, "title": "load", "data": envelope.to_dict()})
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                http_conn.request("POST", "/api/notifications/", body=body, headers=headers)
                response = http_conn.getresponse()
                response.read()
                error: BaseException | None = None
                if response.status != 201:
                    error = RuntimeError(f"publish answered HTTP {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                http_conn.close()
                error = exc
            elapsed = time.monotonic_ns() - sent_ns
            self.environment.events.request.fire(
                request_type="POST",
                name="/api/notifications/",
                response_time=elapsed / 1e6,
                response_length=0,
                exception=error,
                context={},
            )
            if error is None:
                self.collector.metrics.record_ns("publish", elapsed)
                self.collector.record_send(sender, f"notify:{name}", sent_ns - intended_ns)
            return True

        self.pace(send_one, seed=self.cfg.seed * 1_000_003 + self.index)


class KioskUser(_HarnessUser):
    """A timeclock kiosk on ``ws/terminal/<id>/?token=...``: waits for punches.

    ``eks_insert_to_kiosk`` is the wall-clock time from the punch's ``inserted_at`` to its arrival,
    so it is only meaningful when the reader emulator and this generator share a clock.
    """

    def run_session(self) -> None:
        creds = self.runtime.credentials()
        terminal = creds["terminals"][self.index % len(creds["terminals"])]
        url = f"{self.cfg.target.rstrip('/')}/ws/terminal/{terminal['id']}/?token={terminal['token']}"
        conn = self.open_socket(url)
        if conn is not None:
            self.spawn_receiver(conn, self.on_message)

    def on_message(self, message: Message) -> None:
        # inserted_at is wall-clock time; the message was read at received_ns (monotonic), maybe a batch ago.
        now_ns = time.time_ns() - (time.monotonic_ns() - message.received_ns)
        try:
            obj = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict) or obj.get("type") not in ("punch", "unknown_key"):
            return
        try:
            inserted = datetime.fromisoformat(str(obj["inserted_at"]))
        except (KeyError, ValueError):
            return
        latency = now_ns - int(inserted.timestamp() * 1e9)
        self.collector.metrics.record_ns("eks_insert_to_kiosk", latency)
        # Counted, not timed, per second: insert-to-kiosk is neither a service nor a response time.
        self.collector.record_delivery(None)
        self.fire(str(obj["type"]), max(latency, 1000) / 1e6, len(message.data))


class ConnectStormUser(_HarnessUser):
    """Opens sockets on the schedule (open model: each connect in its own greenlet), holds, closes.

    ``connect`` is the handshake time; ``response_time`` runs from the intended connect time, so
    it also shows how late the generator started the attempt.
    """

    def run_session(self) -> None:
        # Against the reference app (a credentials file is given) the storm opens chat sockets as a logged-in
        # user, as browsers would; against any other server it opens the target URL itself.
        self.url, self.cookies = self.cfg.target, None
        if self.cfg.credentials:
            creds = self.runtime.credentials()
            account = creds["users"][self.index % len(creds["users"])]
            room = creds["rooms"][self.index % len(creds["rooms"])]["slug"]
            self.url = f"{self.cfg.target.rstrip('/')}/ws/chat/{room}/"
            self.cookies = {str(creds.get("session_cookie_name", "sessionid")): account["session"]}

        def send_one(_seq: int, intended_ns: int) -> bool:
            self._greenlets.spawn(self._one, intended_ns)
            return True

        self.pace(send_one, seed=self.cfg.seed * 1_000_003 + self.index)

    def _one(self, intended_ns: int) -> None:
        started = time.monotonic_ns()
        self.collector.metrics.record_ns("send_lag", max(0, started - intended_ns))
        conn = self.open_socket(self.url, cookies=self.cookies)
        if conn is None:
            return
        self.collector.metrics.record_ns("response_time", time.monotonic_ns() - intended_ns)
        if self.cfg.storm_hold_s > 0:
            gevent.sleep(self.cfg.storm_hold_s)
        self.close_socket(conn)


class UserStepsShape(locust.LoadTestShape):
    """User-count steps from ``HARNESS_USER_STEPS="users:seconds,users:seconds"``.

    Spawn rate is ``HARNESS_USER_STEPS_SPAWN_RATE`` (default 10 users/s). The test stops after the
    last step. The locustfile only exposes this class when ``HARNESS_USER_STEPS`` is set, because
    Locust uses any shape class it finds in the locustfile.
    """

    steps_env: ClassVar[str] = "HARNESS_USER_STEPS"

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        raw = os.environ.get(self.steps_env, "")
        self.steps = [(int(u), float(s)) for u, s in (p.split(":") for p in raw.split(",") if p.strip())]
        if not self.steps:
            raise ValueError(f"{self.steps_env} must be 'users:seconds,...', got {raw!r}")
        self.spawn_rate = float(os.environ.get("HARNESS_USER_STEPS_SPAWN_RATE", "10"))

    def tick(self) -> tuple[int, float] | None:
        elapsed: float = self.get_run_time()  # type: ignore[no-untyped-call]
        for users, seconds in self.steps:
            if elapsed < seconds:
                return users, self.spawn_rate
            elapsed -= seconds
        return None
