"""Per-process collection of load results and their exact merge on the Locust master.

Every generator process (the local runner, or each Locust worker) owns one :class:`Collector`:
latency histograms (:class:`~harness.measure.metric_set.MetricSet`), delivery accounting
(:class:`~harness.measure.accounting.DeliveryLedger`), connect failures, unexpected closes, who sent how
many messages to which group, CPU samples and a per-second time series.

Transport. A worker ships a **cumulative snapshot** of its collector in every Locust
``report_to_master`` payload (under the ``"harness"`` key), numbered by ``report_no``. The master
(:class:`Aggregator`, a ``worker_report`` listener) keeps only the newest snapshot of each process
and merges the newest snapshots when asked. Replacing instead of adding makes the merge exact
whatever the number of periodic reports, and a report that arrives twice or late changes nothing.
Deltas would be smaller, but delivery accounting cannot be split into deltas: whether an arrival
is a duplicate or reordered depends on everything the stream received before.

Expectations. Every member of a group (an echo socket is a group of one, a broadcast URL or chat
room a group of its members) should receive every message sent to that group. Senders and
receivers may sit in different processes, so the expected seq range of each (sender, receiver)
stream is only set on the merged ledger: ``[0, messages sent)``, or, when the users reconnect, what was sent while
the receiver was a member (:mod:`harness.measure.membership`). This module imports neither
locust, gevent nor asyncio, so it can be unit-tested in a plain process.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from harness.measure.accounting import (
    ConnectFailureKind,
    ConnectFailures,
    DeliveryLedger,
    StreamTracker,
    UnexpectedCloses,
)
from harness.measure.join_storm import JoinStorm
from harness.measure.latency import LatencyRecorder, buckets_percentile
from harness.measure.membership import MembershipLog, stream_ranges
from harness.measure.metric_set import MetricSet

__all__ = [
    "OTHERS_PREFIX",
    "GENERATOR_CPU_LIMIT_PERCENT",
    "GENERATOR_LAG_LIMIT_MS",
    "LIKE",
    "RESULT_VERSION",
    "SNAPSHOT_KEY",
    "SNAPSHOT_VERSION",
    "Aggregator",
    "Collector",
    "HealthThresholds",
    "ProcessHealth",
    "Second",
    "health_of",
    "merge_snapshots",
]

#: A group whose name starts with this reaches every member but the sender (apps that do not echo a message to
#: its sender): the sender's own copy is not expected, and counts as outside the expected if it comes.
OTHERS_PREFIX: Final = "others:"

#: Mean CPU of one generator process (percent of one core; a gevent process cannot use more) above which its
#: figures may measure the generator rather than the server.
GENERATOR_CPU_LIMIT_PERCENT: Final = 85.0
#: Send-lag p99 of one generator process (ms) above which it could not keep its schedule.
GENERATOR_LAG_LIMIT_MS: Final = 5.0
#: A recorder of the harness's one HDR configuration: the bucket layout every tally of a second uses.
LIKE: Final = LatencyRecorder()
#: Key of our snapshot inside Locust's worker report dict.
SNAPSHOT_KEY: Final = "harness"
# History: 1 = first version; 2 = series entries carry errors, open connections and a response-time histogram
# next to the service-time one, and the snapshot says when it was taken; 3 = a second's two distributions are
# tallies, [[bucket index, count], ...] of the harness's HDR buckets, instead of encoded histograms; 4 = the
# process's join storm (``join_storm``: connect attempts, presence frames, the settle barrier's release); 5 = the
# membership log of reconnecting users (``membership``, null otherwise), and streams' optional ranges.
SNAPSHOT_VERSION: Final = 5
# History of the result file written by the master (generator.json): 1 = first version, as locust/result.json;
# 2 = time_series points are result.json's (sent, received, errors, connections, service_time_p99_us,
# response_time_p99_us, plus epoch_s; were sends, deliveries and one p99_us of service time), and the file is
# generator.json; 3 = ``join_storm``, the processes' join storms merged (harness.measure.join_storm); 4 =
# ``membership``, the merged membership log of reconnecting users (null otherwise), and ``delivery.cut_off``.
RESULT_VERSION: Final = 4
#: Envelope deliveries buffered before they are recorded in the histograms.
_DELIVERIES_FOLD_AT: Final = 1024


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """When a generator process is too busy for its numbers to be trusted.

    Attributes:
        cpu_percent: mean CPU of one process (100 = one core, a gevent process cannot use more)
            above which it is ``generator_bound``.
        send_lag_p99_ms: p99 of ``send_lag`` (actual minus intended send) above which it is
            ``generator_bound``.
    """

    cpu_percent: float = GENERATOR_CPU_LIMIT_PERCENT
    send_lag_p99_ms: float = GENERATOR_LAG_LIMIT_MS

    def to_dict(self) -> dict[str, float]:
        return {"cpu_percent": self.cpu_percent, "send_lag_p99_ms": self.send_lag_p99_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthThresholds:
        return cls(cpu_percent=float(data["cpu_percent"]), send_lag_p99_ms=float(data["send_lag_p99_ms"]))


@dataclass
class Second:
    """What one process saw in one wall-clock second."""

    sends: int = 0
    deliveries: int = 0
    #: Connect failures plus unexpected closes.
    errors: int = 0
    #: Open connections after the last change in this second; None when none opened or closed in it.
    connections: int | None = None
    #: Deliveries timed from the actual send, as ``{bucket index: count}`` of the harness's HDR buckets.
    service: dict[int, int] = field(default_factory=dict)
    #: Deliveries timed from the intended send (corrected for coordinated omission), likewise.
    response: dict[int, int] = field(default_factory=dict)

    def entry(self, t: int) -> list[Any]:
        """The snapshot form: ``[t, sends, deliveries, errors, connections, service, response]``, the two tallies
        as ``[[index, count], ...]`` (JSON has no int keys)."""
        return [
            t,
            self.sends,
            self.deliveries,
            self.errors,
            self.connections,
            sorted(self.service.items()),
            sorted(self.response.items()),
        ]


class Collector:
    """Everything one generator process measured; see the module doc.

    Args:
        run_id: the run's id, copied into snapshots so the master can refuse another run's.
        process_id: unique per process (the Locust worker id, or ``"local"``).
        role: ``local``, ``worker`` or ``master``.
        clock: wall clock in seconds, for the per-second time series (comparable across hosts
            that are synchronised by NTP, unlike ``time.monotonic_ns``).
    """

    def __init__(
        self,
        *,
        run_id: str,
        process_id: str,
        role: str,
        clock: Callable[[], float] = time.time,
        reconnecting: bool = False,
    ) -> None:
        self.run_id = run_id
        self.process_id = process_id
        self.role = role
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._clock = clock
        self._metrics = MetricSet()
        self.ledger = DeliveryLedger()
        # The ledger's trackers by (sender, receiver), looked up here on every delivery: one call fewer than
        # going through DeliveryLedger.observe.
        self._trackers: dict[tuple[str, str], StreamTracker] = {}
        self.connect_failures = ConnectFailures()
        self.unexpected_closes = UnexpectedCloses()
        #: Messages sent per (sender, group).
        self.sent: dict[tuple[str, str], int] = {}
        #: Members (receivers) per group.
        self.members: dict[str, set[str]] = {}
        #: When users reconnect: who was in which group when, and when each message was sent.
        self.membership: MembershipLog | None = MembershipLog() if reconnecting else None
        #: Connections opened so far, and why this process ended its test before its time (None: it did not).
        self.connections_ever = 0
        self.ended_early: str | None = None
        #: On the master: workers Locust set missing (no heartbeat for seconds), one sentence each.
        self.lost_workers: list[str] = []
        self._lost_ids: set[str] = set()
        self.cpu_samples: list[float] = []
        #: Connect attempts and presence frames of this process, and when its users were let send.
        self.storm = JoinStorm()
        self._series: dict[int, Second] = {}
        # Snapshot entries of seconds that are over: they never change again, so each is encoded once, not in
        # every report (a half-hour soak has 1,800 of them).
        self._entries: dict[int, list[Any]] = {}
        self._connections = 0
        # The bucket of the second last recorded in: nearly every record lands in the same one as the last.
        self._current_key = -1
        self._current = Second()
        self.report_no = 0
        # Envelope deliveries of the current second not yet in the histograms: service times (ns) of senders' own
        # copies and of the others' copies, and every delivery's response time (ns).
        self._own_service: list[int] = []
        self._other_service: list[int] = []
        self._response: list[int] = []
        #: Set once the process has stopped; every later snapshot is final too.
        self.final = False

    @property
    def metrics(self) -> MetricSet:
        """The latency histograms, with every delivery recorded so far (buffered ones are folded in first)."""
        if self._response:
            self._fold_deliveries()
        return self._metrics

    @property
    def series(self) -> dict[int, Second]:
        """Sends, deliveries and delivery latency per wall-clock second (buffered deliveries folded in first)."""
        if self._response:
            self._fold_deliveries()
        return self._series

    def _second(self) -> Second:
        key = int(self._clock())
        if key == self._current_key:
            return self._current
        if self._response:
            self._fold_deliveries()  # they belong to the second that ends here
        bucket = self._series.get(key)
        if bucket is None:
            bucket = self._series[key] = Second()
        else:
            self._entries.pop(key, None)  # the wall clock went back: that second changes again
        self._current_key, self._current = key, bucket
        return bucket

    def _series_entries(self) -> list[list[Any]]:
        series = self.series
        current = self._current_key
        entries = self._entries
        out = []
        for t in sorted(series):
            if t == current:
                out.append(series[t].entry(t))
                continue
            entry = entries.get(t)
            if entry is None:
                entry = entries[t] = series[t].entry(t)
            out.append(entry)
        return out

    # -- recording -----------------------------------------------------
    def join(self, member: str, group: str) -> None:
        """Declare that ``member`` receives every message sent to ``group`` from now on."""
        self.members.setdefault(group, set()).add(member)

    def record_send(self, sender: str, group: str, send_lag_ns: int | None = None) -> None:
        """Count one message sent to ``group``; ``send_lag_ns`` for scheduled (open-model) sends."""
        key = (sender, group)
        self.sent[key] = self.sent.get(key, 0) + 1
        self._second().sends += 1
        if send_lag_ns is not None:
            self._metrics.record_ns("send_lag", max(0, send_lag_ns))

    def record_delivery(self, service_ns: int | None, response_ns: int | None = None) -> None:
        """Count one delivery in the time series, with its service and response time where known."""
        bucket = self._second()
        bucket.deliveries += 1
        if service_ns is not None:
            LIKE.tally(bucket.service, service_ns)
        if response_ns is not None:
            LIKE.tally(bucket.response, response_ns)

    @property
    def connections(self) -> int:
        """Connections open now."""
        return self._connections

    def connection_opened(self) -> None:
        """Count one connection now open (for the time series' open connections)."""
        self.connections_ever += 1
        self._connections += 1
        self._second().connections = self._connections

    def connection_closed(self) -> None:
        """Count one connection closed, by either side."""
        self._connections -= 1
        self._second().connections = self._connections

    def record_envelope(
        self, sender: str, receiver: str, seq: int, received_ns: int, sent_ns: int, intended_ns: int
    ) -> bool:
        """Account one envelope received and time it; False (and nothing timed) if it was a duplicate.

        ``round_trip`` (the sender's own copy) or ``fanout``, ``service_time`` (both from the actual send),
        ``response_time`` (from the intended send), and the second's service and response time.
        """
        key = (sender, receiver)
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = self.ledger.stream(sender, receiver)
        if tracker.observe(seq) == "duplicate":
            if self.membership is not None:
                self.membership.duplicated(sender, receiver, seq)
            return False
        # The current second's bucket without a call to _second() when the second has not changed, which is
        # nearly always.
        (self._current if int(self._clock()) == self._current_key else self._second()).deliveries += 1
        # Buffered and recorded a batch at a time: two appends here instead of five recorder calls.
        (self._own_service if sender == receiver else self._other_service).append(received_ns - sent_ns)
        response = self._response
        response.append(received_ns - intended_ns)
        if len(response) >= _DELIVERIES_FOLD_AT:
            self._fold_deliveries()
        return True

    def _fold_deliveries(self) -> None:
        own, others, response = self._own_service, self._other_service, self._response
        self._own_service, self._other_service, self._response = [], [], []
        metrics = self._metrics
        service_time = metrics.recorder("service_time")
        second = self._current
        if own:
            metrics.recorder("round_trip").record_many_ns(own, service_time, tallies=(second.service,))
        if others:
            metrics.recorder("fanout").record_many_ns(others, service_time, tallies=(second.service,))
        metrics.recorder("response_time").record_many_ns(response, tallies=(second.response,))

    def record_connect_failure(self, kind: ConnectFailureKind) -> None:
        self.connect_failures.record(kind)
        self._second().errors += 1

    def record_close(self, code: int) -> None:
        self.unexpected_closes.record(code)
        self._second().errors += 1

    def sample_cpu(self, percent: float) -> None:
        self.cpu_samples.append(float(percent))

    # -- transport -----------------------------------------------------
    def snapshot(self, *, final: bool = False) -> dict[str, Any]:
        """Return a JSON-safe cumulative snapshot; each call gets the next ``report_no``."""
        self.report_no += 1
        self.final = self.final or final
        return {
            "v": SNAPSHOT_VERSION,
            "run_id": self.run_id,
            "process_id": self.process_id,
            "role": self.role,
            "host": self.host,
            "pid": self.pid,
            "report_no": self.report_no,
            "taken_at": self._clock(),
            "final": self.final,
            "metrics": self.metrics.to_dict(),
            "ledger": self.ledger.to_dict(),
            "connect_failures": self.connect_failures.to_dict(),
            "unexpected_closes": self.unexpected_closes.to_dict(),
            "sent": [[s, g, n] for (s, g), n in sorted(self.sent.items())],
            "members": {g: sorted(m) for g, m in sorted(self.members.items())},
            "membership": None if self.membership is None else self.membership.to_dict(),
            "cpu_samples": list(self.cpu_samples),
            "series": self._series_entries(),
            "join_storm": self.storm.to_dict(),
            "ended_early": self.ended_early,
            "lost_workers": list(self.lost_workers),
        }

    def lost_worker(self, worker: str, silent_s: float) -> None:
        """On the master: Locust set ``worker`` missing (no heartbeat for over ``silent_s``); said once per worker."""
        if worker in self._lost_ids:
            return
        self._lost_ids.add(worker)
        self.lost_workers.append(
            f"Locust set worker {worker} missing: no heartbeat from it for over {silent_s:g} s (its event loop "
            "was blocked, or it died), so it did not keep its schedule; add generator processes or open the "
            "connections more slowly"
        )

    def report_to_master(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        """Locust ``report_to_master`` listener: put a cumulative snapshot in the worker's report."""
        data[SNAPSHOT_KEY] = self.snapshot()


@dataclass(frozen=True, slots=True)
class ProcessHealth:
    """Generator health of one process.

    Attributes:
        process_id, role, host, pid: which process.
        cpu_mean, cpu_max: over the ~1/s samples of the process's CPU time (percent of one core).
        cpu_samples: number of samples.
        send_lag_p99_us: p99 of this process's ``send_lag`` (0 without scheduled sends).
        generator_bound: a threshold was crossed; see ``reasons``.
        reasons: one sentence per crossed threshold.
    """

    process_id: str
    role: str
    host: str
    pid: int
    cpu_mean: float
    cpu_max: float
    cpu_samples: int
    send_lag_p99_us: int
    generator_bound: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "process_id": self.process_id,
            "role": self.role,
            "host": self.host,
            "pid": self.pid,
            "cpu_percent": {"mean": self.cpu_mean, "max": self.cpu_max, "samples": self.cpu_samples},
            "send_lag_p99_us": self.send_lag_p99_us,
            "generator_bound": self.generator_bound,
            "generator_bound_reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessHealth:
        """Inverse of :meth:`to_dict` (the generator's result file and result.json carry this shape)."""
        cpu = data["cpu_percent"]
        return cls(
            process_id=str(data["process_id"]),
            role=str(data["role"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            cpu_mean=float(cpu["mean"]),
            cpu_max=float(cpu["max"]),
            cpu_samples=int(cpu["samples"]),
            send_lag_p99_us=int(data["send_lag_p99_us"]),
            generator_bound=bool(data["generator_bound"]),
            reasons=tuple(str(r) for r in data["generator_bound_reasons"]),
        )


def health_of(
    snapshot: Mapping[str, Any], thresholds: HealthThresholds, metrics: MetricSet | None = None
) -> ProcessHealth:
    """Judge one process from its snapshot against ``thresholds`` (``metrics``: the snapshot's, already decoded)."""
    samples = [float(x) for x in snapshot["cpu_samples"]]
    if metrics is None:
        metrics = MetricSet.from_dict(snapshot["metrics"])
    lag_p99 = metrics.recorder("send_lag").summary().p99 if "send_lag" in metrics else 0
    cpu_mean = statistics.fmean(samples) if samples else 0.0
    reasons: list[str] = []
    name = f"{snapshot['role']} {snapshot['process_id']} (pid {snapshot['pid']} on {snapshot['host']})"
    if cpu_mean > thresholds.cpu_percent:
        reasons.append(
            f"{name}: mean CPU {cpu_mean:.1f} % > {thresholds.cpu_percent:g} %; "
            "add generator processes (--processes) or lower the rate per process"
        )
    if lag_p99 > thresholds.send_lag_p99_ms * 1000:
        reasons.append(
            f"{name}: send-lag p99 {lag_p99 / 1000:.3f} ms > {thresholds.send_lag_p99_ms:g} ms; "
            "the generator could not keep its schedule, so response times include its own delay"
        )
    # Snapshots of older versions have no such list.
    reasons += [f"{name}: {lost}" for lost in snapshot.get("lost_workers") or ()]
    return ProcessHealth(
        process_id=str(snapshot["process_id"]),
        role=str(snapshot["role"]),
        host=str(snapshot["host"]),
        pid=int(snapshot["pid"]),
        cpu_mean=round(cpu_mean, 2),
        cpu_max=max(samples, default=0.0),
        cpu_samples=len(samples),
        send_lag_p99_us=lag_p99,
        generator_bound=bool(reasons),
        reasons=tuple(reasons),
    )


class Aggregator:
    """Master side: keeps the newest snapshot of every process (see the module doc).

    Args:
        run_id: snapshots of another run are ignored (and counted in :attr:`rejected`).
    """

    def __init__(self, *, run_id: str) -> None:
        self.run_id = run_id
        self.latest: dict[str, dict[str, Any]] = {}
        self.rejected = 0

    def add_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Keep ``snapshot`` if it is newer than what we hold for its process."""
        if snapshot.get("v") != SNAPSHOT_VERSION or snapshot.get("run_id") != self.run_id:
            self.rejected += 1
            return
        pid = str(snapshot["process_id"])
        held = self.latest.get(pid)
        if held is None or int(snapshot["report_no"]) > int(held["report_no"]):
            self.latest[pid] = dict(snapshot)

    def worker_report(self, client_id: str, data: Mapping[str, Any], **_kwargs: Any) -> None:
        """Locust ``worker_report`` listener."""
        snapshot = data.get(SNAPSHOT_KEY)
        if isinstance(snapshot, Mapping):
            self.add_snapshot(snapshot)

    def final_from(self) -> set[str]:
        """Processes whose newest snapshot is their final one."""
        return {pid for pid, snap in self.latest.items() if snap.get("final")}

    def snapshots(self) -> list[dict[str, Any]]:
        return [self.latest[pid] for pid in sorted(self.latest)]


def _add_tally(into: dict[int, int], pairs: Iterable[Sequence[int]]) -> None:
    for index, count in pairs:
        into[int(index)] = into.get(int(index), 0) + int(count)


def _merge_series(snapshots: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[int, Second] = {}
    # Open connections per process by second where they changed; every other second carries the last value on.
    gauges: list[dict[int, int]] = []
    for snap in snapshots:
        gauge: dict[int, int] = {}
        for t, sends, deliveries, errors, connections, service, response in snap["series"]:
            bucket = merged.setdefault(int(t), Second())
            bucket.sends += int(sends)
            bucket.deliveries += int(deliveries)
            bucket.errors += int(errors)
            _add_tally(bucket.service, service)
            _add_tally(bucket.response, response)
            if connections is not None:
                gauge[int(t)] = int(connections)
        gauges.append(gauge)
    if not merged:
        return []
    first = min(merged)
    open_now = [0] * len(gauges)
    points = []
    # A second in which no process recorded anything had no sends, deliveries or errors: it is listed with those
    # zeros (and the connections carried on), so that a chart does not draw a line across it.
    nothing = Second()
    for t in range(first, max(merged) + 1):
        b = merged.get(t, nothing)
        for i, gauge in enumerate(gauges):
            open_now[i] = gauge.get(t, open_now[i])
        points.append(
            {
                "t_s": t - first,
                "epoch_s": t,
                "sent": b.sends,
                "received": b.deliveries,
                "errors": b.errors,
                "connections": sum(open_now),
                "service_time_p99_us": buckets_percentile(b.service, 99.0, like=LIKE),
                "response_time_p99_us": buckets_percentile(b.response, 99.0, like=LIKE),
            }
        )
    return points


def merge_snapshots(
    snapshots: Iterable[Mapping[str, Any]],
    *,
    run_id: str,
    mode: str,
    thresholds: HealthThresholds,
    config: Mapping[str, Any] | None = None,
    incomplete: Iterable[str] = (),
) -> dict[str, Any]:
    """Merge process snapshots into the generator's result, which the master writes at the end of a run.

    Each snapshot's histograms are decoded once, for the merge, the health verdict and the per-process counts.

    Args:
        snapshots: the newest snapshot of every process (workers, and the master's own).
        run_id: the run's id.
        mode: ``local`` or ``distributed``.
        thresholds: generator-health thresholds.
        config: the resolved harness options, recorded as given.
        incomplete: processes whose final snapshot never arrived (their last periodic one was used).
    """
    snaps = list(snapshots)
    metrics = MetricSet()
    ledger = DeliveryLedger()
    failures = ConnectFailures()
    closes = UnexpectedCloses()
    sent: dict[tuple[str, str], int] = {}
    members: dict[str, set[str]] = {}
    membership: MembershipLog | None = None
    decoded = [MetricSet.from_dict(snap["metrics"]) for snap in snaps]
    for snap, snap_metrics in zip(snaps, decoded, strict=True):
        metrics.merge(snap_metrics)
        ledger.merge(DeliveryLedger.from_dict(snap["ledger"]))
        failures.merge(ConnectFailures.from_dict(snap["connect_failures"]))
        closes.merge(UnexpectedCloses.from_dict(snap["unexpected_closes"]))
        for sender, group, n in snap["sent"]:
            sent[(sender, group)] = sent.get((sender, group), 0) + int(n)
        for group, names in snap["members"].items():
            members.setdefault(group, set()).update(names)
        if snap.get("membership") is not None:
            membership = membership or MembershipLog()
            membership.merge(MembershipLog.from_dict(snap["membership"]))
    if membership is not None:
        others = [g for g in {g for _, g in membership.stays} if g.startswith(OTHERS_PREFIX)]
        for sender, receiver, expected, optional, tolerated in stream_ranges(membership, others_only=others):
            ledger.expect_ranges(sender, receiver, expected, optional, tolerated)
    else:
        for (sender, group), n in sent.items():
            others_only = group.startswith(OTHERS_PREFIX)
            for receiver in members.get(group, ()):
                if not (others_only and receiver == sender):
                    ledger.expect(sender, receiver, 0, n)
    # A stream no group membership explains was never expected: what arrived on it is outside the expected, not a
    # delivery owed (a server that sends messages to more receivers than their group).
    for sender, receiver in ledger.keys():
        if ledger.stream(sender, receiver).expected_ranges is None:
            ledger.expect(sender, receiver, 0, 0)
    health = [health_of(snap, thresholds, m) for snap, m in zip(snaps, decoded, strict=True)]
    reasons = [reason for h in health for reason in h.reasons]
    return {
        "version": RESULT_VERSION,
        "run_id": run_id,
        "mode": mode,
        "config": dict(config or {}),
        "processes": [str(s["process_id"]) for s in snaps],
        "incomplete_processes": sorted(incomplete),
        "metrics": metrics.to_dict(),
        "summaries": {name: s.to_dict() for name, s in metrics.summaries().items()},
        "metric_counts_by_process": {
            str(snap["process_id"]): {name: m.recorder(name).count for name in m.names()}
            for snap, m in zip(snaps, decoded, strict=True)
        },
        "sends": sum(sent.values()),
        "groups": {g: sorted(m) for g, m in sorted(members.items())},
        "delivery": ledger.totals().to_dict(),
        "foreign_messages": dict(sorted(ledger.foreign.items())),
        "ledger": ledger.to_dict(),
        "membership": None if membership is None else membership.to_dict(),
        "connect_failures": failures.to_dict(),
        "unexpected_closes": closes.to_dict(),
        "generator_health": {
            "thresholds": thresholds.to_dict(),
            "processes": [h.to_dict() for h in health],
            "generator_bound": bool(reasons),
            "generator_bound_reasons": reasons,
        },
        "time_series": _merge_series(snaps),
        "join_storm": JoinStorm.merged(JoinStorm.from_dict(s["join_storm"]) for s in snaps).result_dict(),
        "ended_early": [str(s["ended_early"]) for s in snaps if s.get("ended_early")],
    }
