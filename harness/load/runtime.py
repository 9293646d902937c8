"""What one Locust process shares between its users and its event listeners, and the listeners themselves.

One :class:`ProcessRuntime` per process (local runner, master or worker): the resolved options, the process's
:class:`~harness.measure.aggregation.Collector`, on the master the :class:`~harness.measure.aggregation.Aggregator`,
the CPU sampler and the live-figures writer. At test stop the master (or local runner) merges every process's final
snapshot and writes the generator's result file.
"""

from __future__ import annotations

# Locust monkey-patches the standard library with gevent when imported; that has to happen before
# anything below creates sockets, locks or threads, so this import must stay first.
import gc
import itertools
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import orjson
from locust.env import Environment
from locust.runners import HEARTBEAT_LIVENESS, MasterRunner, WorkerRunner

from harness.load.hub_receiver import ReceiveBatch
from harness.load.options import KIND_CLASSES, RECONNECT_KINDS, HarnessConfig, check_warmup_from
from harness.load.settle import Release, SettleBarrier
from harness.load.user_numbers import user_index
from harness.measure.aggregation import Aggregator, Collector, merge_snapshots
from harness.measure.live import LiveWindow, collector_now, snapshot_now

__all__ = ["ProcessRuntime", "current_runtime", "listen", "on_init"]

log = logging.getLogger("harness.locust")

#: Kinds whose users hold their sockets for the whole test (a connect storm opens and closes them by design).
HOLDING_KINDS: Final = ("echo", "broadcast", "chat", "notifications", "kiosk", "app")
#: How often the watchdog looks, and how long every socket must have been gone before the test ends early.
_WATCH_S: Final = 0.5
_GONE_S: Final = 2.0
#: ... when the users reconnect (--harness-reconnect): they come back after an outage, such as a fault window that
#: kills the server for seconds, so only a target gone this long ends the test.
_GONE_RECONNECTING_S: Final = 30.0
#: How often the settle barrier is polled: the release comes at most this late after the room went quiet.
_SETTLE_POLL_S = 0.05

# -- per-process runtime -------------------------------------------------------------------


class ProcessRuntime:
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
        self._watchdog: gevent.Greenlet | None = None
        self._counter = itertools.count()
        self._credentials: dict[str, Any] | None = None
        #: When this process's test started (monotonic ns): what ``--harness-warmup-from start`` counts from.
        self.started_ns = 0
        #: ``--harness-warmup-from settle`` in a process that runs users: when they may send (harness.load.settle).
        self.barrier: SettleBarrier | None = None
        self._released = gevent.event.AsyncResult()
        self._settle: gevent.Greenlet | None = None
        #: On the master: workers whose users have all sent (``harness_done``).
        self.done_workers: set[str] = set()

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
        self.started_ns = time.monotonic_ns()
        opts = self.environment.parsed_options
        self.config = HarnessConfig.from_options(opts)
        if self.config.reconnect and self.config.kind not in RECONNECT_KINDS:
            raise RuntimeError(f"--harness-reconnect is for kinds {', '.join(RECONNECT_KINDS)}, not {self.config.kind}")
        self.collector = Collector(
            run_id=self.config.run_id,
            process_id=self.process_id,
            role=self.role,
            reconnecting=self.config.reconnect,
        )
        if self.role == "master":
            self.aggregator = Aggregator(run_id=self.config.run_id)
        if self.config.receive_batch_ms > 0:
            self.receive_batch = ReceiveBatch(self.config.receive_batch_ms / 1000)
        self._sampler = gevent.spawn(self._sample_cpu, self.collector)
        if self.config.live and self.role != "worker":
            self._live = gevent.spawn(self._write_live, Path(self.config.live))
        if self.role != "master" and self.config.kind in HOLDING_KINDS:
            self._watchdog = gevent.spawn(self._watch_target, self.collector)
        if self.role == "master":
            self._watchdog = gevent.spawn(self._watch_workers, self.collector)
        if self.config.warmup_from == "settle" and self.role != "master":
            self.barrier = SettleBarrier(quiet_s=self.config.settle_quiet_s, timeout_s=self.config.settle_timeout_s)

    def wait_released(self) -> Release:
        """Block until the settle barrier lets this process's users send."""
        release: Release = self._released.get()
        return release

    def spawning_complete(self) -> None:
        """Every user of this process is spawned: watch the barrier until it releases them."""
        if self.barrier is None or self._settle is not None:
            return
        runner = self.environment.runner
        assert runner is not None and self.collector is not None
        self.barrier.spawned(int(runner.user_count), time.monotonic_ns())
        self._settle = gevent.spawn(self._watch_barrier, self.barrier, self.collector)

    def _watch_barrier(self, barrier: SettleBarrier, collector: Collector) -> None:
        while (release := barrier.poll(collector.storm, time.monotonic_ns(), self._required_joins(collector))) is None:
            gevent.sleep(_SETTLE_POLL_S)
        cfg = self.config
        assert cfg is not None
        if not release.settled:
            log.warning("the join storm did not settle within %g s of spawning; sending anyway", cfg.settle_timeout_s)
        # What the opening made (every socket, greenlet and client) lives until the test ends: collect once now,
        # in the warm-up between the release and the first send, and keep full collections from walking it again
        # during the window. A profile of a worker opening and holding 2,500 sockets had 15 % of its busy samples
        # in the collector.
        gc.collect()
        gc.freeze()
        self._released.set(release)
        if cfg.send_seconds <= 0:
            return  # users send until Locust stops them
        # Locust's --run-time leaves room for the whole time-out; a room that settled sooner ends the test sooner.
        gevent.sleep(cfg.warmup_s + cfg.send_seconds + cfg.grace_s)
        self._sent_all()

    def _required_joins(self, collector: Collector) -> int:
        """The join presence frames this process's chat members must have read before their rooms are joined:
        L(L + 1)/2 for each room with L members here (harness.load.settle). Other kinds announce no joins."""
        assert self.config is not None
        if self.config.kind != "chat":
            return 0
        return sum(len(members) * (len(members) + 1) // 2 for members in collector.members.values())

    def _sent_all(self) -> None:
        """Every user of this process has sent its last message and the grace period is over: end the test."""
        runner: Any = self.environment.runner
        if self.role == "worker":
            runner.send_message("harness_done")
        else:
            # From a greenlet of its own: test_stop kills this one (stop_sampler) while the runner is quitting.
            gevent.spawn(runner.quit)

    def _watch_target(self, collector: Collector) -> None:
        """End this process's test once every socket it opened has been closed for a while: users that do not
        reconnect can measure nothing more, and a run against a target that died should end in seconds, not at its
        planned end, with its results marked as partial. Users that reconnect are given longer to come back."""
        assert self.config is not None
        gone_s = _GONE_RECONNECTING_S if self.config.reconnect else _GONE_S
        gone_since: float | None = None
        while True:
            gevent.sleep(_WATCH_S)
            if collector.connections_ever == 0 or collector.connections > 0:
                gone_since = None
                continue
            now = time.monotonic()
            if gone_since is None:
                gone_since = now
            elif now - gone_since >= gone_s:
                collector.ended_early = (
                    f"all {collector.connections_ever} connections of process {self.process_id} were closed and "
                    f"none reopened for {gone_s:g} s (the target went away, or closed every socket): the test "
                    "ended early"
                )
                log.warning("%s", collector.ended_early)
                self._sent_all()
                return

    def _watch_workers(self, collector: Collector) -> None:
        """Record each worker Locust's master sets missing: a worker whose event loop did not run long enough to
        send a heartbeat for seconds cannot have kept its schedule, so the generator was the limit (and with no
        worker left, Locust stops the test). Locust says so only in its log."""
        runner: Any = self.environment.runner
        while True:
            gevent.sleep(_WATCH_S)
            for client in runner.clients.missing:
                collector.lost_worker(str(client.id), HEARTBEAT_LIVENESS)

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
        window = LiveWindow()
        while True:
            gevent.sleep(1.0)
            now = int(time.time())
            if self.aggregator is None:
                assert self.collector is not None
                end = now
                start = end - window.window_s
                processes = {self.process_id: collector_now(self.collector, start=start, end=end)}
            else:
                # Workers report every few seconds: the window ends where the least recent report does.
                snapshots = self.aggregator.snapshots()
                end = min((int(s["taken_at"]) for s in snapshots), default=now)
                start = end - window.window_s
                processes = {str(s["process_id"]): snapshot_now(s, start=start) for s in snapshots}
            figures = window.figures(processes, end=end)
            runner = self.environment.runner
            users = int(runner.user_count) if runner is not None else 0
            tmp.write_bytes(orjson.dumps({"users": users, **figures.to_dict()}))
            os.replace(tmp, path)

    def stop_sampler(self) -> None:
        for greenlet in (self._sampler, self._live, self._settle, self._watchdog):
            if greenlet is not None:
                greenlet.kill(block=False)
        self._sampler = self._live = self._settle = self._watchdog = None
        if self.barrier is not None and self.collector is not None:
            self.barrier.give_up(self.collector.storm, time.monotonic_ns())


_runtime: ProcessRuntime | None = None


def current_runtime() -> ProcessRuntime:
    if _runtime is None or _runtime.collector is None or _runtime.config is None:
        raise RuntimeError("harness users need the harness locustfile (harness/load/locustfile.py) and a started test")
    return _runtime


# -- event listeners -----------------------------------------------------------------------


def on_init(environment: Environment, **_kwargs: Any) -> None:
    """Locust ``init`` listener: per-process runtime, run id, user classes of ``--harness-kind``."""
    global _runtime
    runtime = _runtime = ProcessRuntime(environment)
    opts = environment.parsed_options
    events = environment.events
    if opts is not None and runtime.role in ("master", "local"):
        if not opts.harness_run_id:
            # Generated once here; the master sends its options to the workers with every spawn.
            opts.harness_run_id = uuid.uuid4().hex[:12]
        # Fatal here (Locust exits on an exception in an init listener), before any user connects.
        check_warmup_from(opts.harness_kind, opts.harness_warmup_from)
        if not getattr(opts, "user_classes", None):
            # Workers spawn what the master names, so only the deciding process narrows the classes.
            wanted = KIND_CLASSES[opts.harness_kind]
            environment.user_classes[:] = [c for c in environment.user_classes if c.__name__ in wanted]
        publisher = environment.user_classes_by_name.get("NotificationPublisherUser")
        if publisher is not None:
            publisher.fixed_count = max(0, int(opts.harness_publishers))
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("harness_stop", _on_harness_stop)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message("harness_done", _on_harness_done)
    listen(events.test_start, _on_test_start)
    listen(events.spawning_complete, _on_spawning_complete)
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


def _on_spawning_complete(**_kwargs: Any) -> None:
    if _runtime is not None:
        _runtime.spawning_complete()


def _on_harness_done(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    # A worker released by its settle barrier has sent everything and waited out the grace period. The test ends
    # when every worker has: the barriers of different workers release at different times.
    assert _runtime is not None
    _runtime.done_workers.add(str(msg.node_id))
    runner: Any = environment.runner
    if {str(c.id) for c in runner.clients.all} <= _runtime.done_workers:
        # Not from this handler: quitting kills the greenlet that runs it.
        gevent.spawn(runner.quit)


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
    result = merge_snapshots(
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
    environment: Environment, runtime: ProcessRuntime, cfg: HarnessConfig
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
