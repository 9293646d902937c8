"""Shift change through the whole EKS path: emulated readers -> gateway -> worker -> database and kiosks.

Used by ``harness run`` for timeclock scenarios and by ``benchmarks/eks_shift_change.py``. On a running
reference-app stack (Redis layer, terminals whose readers are on consecutive ports) it starts one emulator process,
the gateway process(es) and a kiosk WebSocket per terminal, then plays a schedule of badge events (insert a key,
dwell, remove it) and measures:

* the burst: inserts issued, and the time from the first insert to the last punch a kiosk received;
* punches stored, lost (inserts with no stored punch), duplicates (stored punches beyond one per insert);
* badge events whose punch reached the terminal's kiosk;
* insert -> kiosk latency of every event, in ns: from the emulator's ``monotonic_ns`` stamp taken right after it
  wrote the ``Ek 01`` frame to the moment this process read the punch message (CLOCK_MONOTONIC, one host);
* each event's intended insert time (the schedule's), so a late insert (the emulator's control API, or this
  process, falling behind) shows as insert lag and in the response time from the intended insert;
* the CPU of this process and of the emulator while the badge events play: they are the load generator.

An event is identified by (terminal, key serial): a schedule uses each key at most once per reader.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from harness.faults.injectors import FaultTargets, Supervised
from harness.faults.schedule import FaultSchedule, FaultWindow
from harness.faults.supervisor import ProcessSupervisor, Restart
from harness.measure.accounting import ConnectFailureKind, ConnectFailures
from harness.measure.gateway_timeline import GatewayTimeline
from harness.measure.latency import LatencyRecorder, LatencySummary
from harness.measure.punch_audit import PunchAudit, audit_files, punch_lines
from harness.results.format import format_ms
from harness.scenario.faults import FaultSpec
from harness.stack import Stack, StackConfig
from harness.stack.network import find_free_port_range, http_json
from harness.stack.processes import ManagedProcess

__all__ = [
    "BadgeEvent",
    "EventTiming",
    "LoadProcessCpu",
    "ShiftChangeResult",
    "drive_shift_change",
    "one_insert_per_reader",
    "run_shift_change",
    "shift_schedule",
]


@dataclass(frozen=True)
class BadgeEvent:
    """One key going into a reader at ``at_s`` (from the start of the burst) and out again after ``dwell_s``."""

    at_s: float
    reader: int
    employee: int
    dwell_s: float


def one_insert_per_reader(readers: int, burst_s: float, seed: int) -> list[BadgeEvent]:
    """Every employee i badges once on reader i at a seeded uniform time within the burst (the benchmark's shape)."""
    rng = random.Random(seed)
    return sorted(
        (BadgeEvent(rng.uniform(0, burst_s), i, i, rng.uniform(1.0, 3.0)) for i in range(readers)),
        key=lambda e: e.at_s,
    )


def shift_schedule(readers: int, inserts: int, burst_s: float, seed: int) -> list[BadgeEvent]:
    """``inserts`` badge events per reader, each with its own employee, Poisson-like within the burst.

    A reader holds one key at a time, so a reader's events are ordered and the dwell is kept shorter than the gap
    to its next event. Employee ``reader * inserts + k`` makes the k-th event of a reader.
    """
    rng = random.Random(seed)
    events = []
    slot = burst_s / inserts
    for reader in range(readers):
        for k in range(inserts):
            at = k * slot + rng.uniform(0, slot * 0.5)
            events.append(BadgeEvent(at, reader, reader * inserts + k, min(0.5 * slot, rng.uniform(0.3, 2.0))))
    return sorted(events, key=lambda e: e.at_s)


@dataclass(frozen=True, slots=True)
class EventTiming:
    """One badge event's clocks (CLOCK_MONOTONIC ns): when the schedule meant the key to go in, when the emulator
    wrote the insert, and when the punch reached the terminal's kiosk (None: it did not within the drain); its
    terminal, and whether the database holds its punch."""

    intended_ns: int
    inserted_ns: int
    received_ns: int | None
    terminal: int = 0
    stored: bool = False


@dataclass(frozen=True, slots=True)
class LoadProcessCpu:
    """The mean CPU (percent of one core) of one of the load's own processes while the badge events played."""

    name: str
    pid: int
    cpu_percent: float


@dataclass
class ShiftChangeResult:
    server: str
    readers: int
    inserts: int
    burst_window_s: float
    burst_duration_s: float
    punches_stored: int
    lost: int
    duplicates: int
    kiosks_with_punch: int
    #: Insert -> kiosk latency of the events whose punch reached its kiosk (HDR, µs; count 0 when none did).
    latency: LatencySummary
    gateway: dict[str, Any] = field(default_factory=dict)
    gateways: int = 1
    #: Insert -> kiosk latency of every event whose punch reached its kiosk, ns.
    latencies_ns: list[int] = field(default_factory=list)
    events: int = 0
    #: Every inserted event's clocks, in the order of its intended insert.
    timings: list[EventTiming] = field(default_factory=list)
    #: The load's own processes while the events played: this one and the emulator.
    load_processes: list[LoadProcessCpu] = field(default_factory=list)
    #: Readers the gateways held connected when the events began (a reader left out loses its punches).
    readers_connected: int = 0
    #: Kiosk sockets that could not be opened, by kind (their terminals' punches count as not delivered).
    kiosk_failures: ConnectFailures = field(default_factory=ConnectFailures)
    #: The fault windows as they happened (empty without faults).
    fault_windows: list[FaultWindow] = field(default_factory=list)
    #: Kiosk sockets the server closed while the events played: (CLOCK_MONOTONIC ns, close code or None, terminal).
    kiosk_closes: list[tuple[int, int | None, int]] = field(default_factory=list)
    #: When a kiosk was welcomed again after a close (ns), and its terminal.
    kiosk_reconnects: list[tuple[int, int]] = field(default_factory=list)
    #: The exactly-once audit of the punches against the emulator's event log.
    audit: PunchAudit | None = None
    #: Whether every gateway had every punch acknowledged before the audit (False: the drain ran out first).
    drained: bool = True
    #: Processes that exited on their own during a chaos run, and were restarted by the harness's supervisor.
    restarts: list[Restart] = field(default_factory=list)
    #: The gateways' reader connections polled while the faults played (None without faults).
    gateway_timeline: GatewayTimeline | None = None

    def _latency_line(self) -> str:
        if not self.latency.count:
            return "insert -> kiosk latency: no punch reached a kiosk"
        s = self.latency
        return (
            f"insert -> kiosk latency ({s.count} events): p50 {format_ms(s.p50)} ms, p99 {format_ms(s.p99)} ms, "
            f"max {format_ms(s.max)} ms"
        )

    def lines(self) -> list[str]:
        audit = [] if self.audit is None else [self.audit.sentence()]
        if not self.drained:
            audit.append("the gateways still held unacknowledged punches when the drain ended: the audit is early")
        return audit + [
            f"server {self.server}, layer redis, {self.readers} readers, 1 emulator process, "
            f"{self.gateways} gateway process(es)",
            f"burst: {self.inserts} inserts within {self.burst_window_s:.0f} s; "
            f"first insert -> last kiosk punch {self.burst_duration_s:.1f} s",
            f"punches stored {self.punches_stored}, lost {self.lost}, duplicates {self.duplicates}",
            f"kiosks that received their punch: {self.kiosks_with_punch}/{self.events}",
            f"readers connected {self.readers_connected}/{self.readers}, kiosks that could not be opened "
            f"{self.kiosk_failures.total}",
            self._latency_line(),
            f"gateway: connected {self.gateway.get('connected')}, "
            f"reconnects {self.gateway.get('reconnects')}, errors {self.gateway.get('errors')}",
        ]


# The emulator's control API and the gateways' status pages are called from the event loop through the project's
# blocking HTTP helper in threads; a shift change inserts and removes a key per event, so it gets threads of its own.
_HTTP_THREADS: Final = 32
# How often a chaos run polls the gateways' status for its per-window reader figures: fine enough to see a reader
# fault of half a second, a few requests a second for the gateways to answer.
_GATEWAY_POLL_S: Final = 0.25


async def _http(
    pool: ThreadPoolExecutor, port: int, method: str, path: str, body: Any = None, timeout: float = 10.0
) -> tuple[int, Any]:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        pool, functools.partial(http_json, "127.0.0.1", port, method, path, body, timeout=timeout)
    )


async def _wait_http(
    pool: ThreadPoolExecutor, port: int, path: str, ready: Any, what: str, process: ManagedProcess, timeout: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = "no answer"
    while loop.time() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited during start-up; its log ends with:\n{process.tail()}")
        try:
            status, body = await _http(pool, port, "GET", path, timeout=2.0)
        except OSError as exc:
            last = exc
        else:
            last = body
            if status == 200 and ready(body):
                return dict(body)
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout} s (last: {last}); log: {process.log_path}")


#: A kiosk page reconnects after a close, as the reference app's does: at once, then backing off to this (s).
_KIOSK_RECONNECT_MAX_S: Final = 2.0


@dataclass
class _Kiosk:
    terminal_id: int
    socket: ClientConnection
    url: str
    origin: str
    punches: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    #: Each time the server closed the socket (CLOCK_MONOTONIC ns) and its close code (1006: dropped without one).
    closes: list[tuple[int, int | None]] = field(default_factory=list)
    #: When each reconnect was welcomed again (ns).
    reconnects: list[int] = field(default_factory=list)

    async def listen(self) -> None:
        """Read punches until cancelled; after a close, reconnect (a kiosk that stays dark would hide every later
        punch of its terminal)."""
        while True:
            try:
                async for raw in self.socket:
                    try:
                        message = json.loads(raw)
                    except ValueError:
                        continue  # not a kiosk message; the punches are what is counted
                    if isinstance(message, dict) and message.get("type") == "punch":
                        self.punches.append((time.monotonic_ns(), message))
            except ConnectionClosed:
                pass
            self.closes.append((time.monotonic_ns(), self.socket.close_code))
            self.socket = await self._reconnect()
            self.reconnects.append(time.monotonic_ns())

    async def _reconnect(self) -> ClientConnection:
        delay = 0.05
        while True:
            try:
                ws = await connect(self.url, origin=self.origin, open_timeout=10)  # type: ignore[arg-type]
            except (OSError, TimeoutError, InvalidHandshake):
                await asyncio.sleep(delay)
                delay = min(2 * delay, _KIOSK_RECONNECT_MAX_S)
                continue
            try:
                welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except (TimeoutError, ConnectionClosed, ValueError):
                await ws.close()
                await asyncio.sleep(delay)
                continue
            if isinstance(welcome, dict) and welcome.get("type") == "welcome":
                return ws
            await ws.close()
            await asyncio.sleep(delay)


def _connect_failure_kind(exc: BaseException) -> ConnectFailureKind:
    if isinstance(exc, InvalidStatus):
        return "http_403" if exc.response.status_code == 403 else "handshake_error"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, InvalidHandshake):
        return "handshake_error"
    return "other"


async def _open_kiosks(
    stack: Stack, terminals: list[dict[str, Any]], concurrency: int = 50
) -> tuple[list[_Kiosk], ConnectFailures]:
    """A kiosk socket per terminal, welcomed; the kiosks that could not be opened are counted by kind (their
    terminals' punches then count as not delivered)."""
    slots = asyncio.Semaphore(concurrency)
    failures = ConnectFailures()

    async def open_one(terminal: dict[str, Any]) -> _Kiosk | None:
        url = f"{stack.ws_url}/ws/terminal/{terminal['id']}/?token={terminal['token']}"
        async with slots:
            try:
                ws = await connect(url, origin=stack.http_url, open_timeout=30)  # type: ignore[arg-type]
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                failures.record(_connect_failure_kind(exc))
                return None
            try:
                welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
            except (TimeoutError, ConnectionClosed, ValueError) as exc:
                failures.record("timeout" if isinstance(exc, TimeoutError) else "handshake_error")
                await ws.close()
                return None
        if welcome.get("type") != "welcome":
            # Not a kiosk's greeting: the endpoint is not the reference app's terminal consumer.
            failures.record("handshake_error")
            await ws.close()
            return None
        return _Kiosk(terminal["id"], ws, url, stack.http_url)

    opened = await asyncio.gather(*(open_one(t) for t in terminals))
    return [k for k in opened if k is not None], failures


def _stored_punches(db_path: Path) -> list[tuple[int, int, str, str, str]]:
    """(id, terminal id, serial, event id, recorded_at with its UTC offset) of every stored punch."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT id, terminal_id, key_serial, event_id, recorded_at FROM timeclock_punch ORDER BY id"
        ).fetchall()
    # Django keeps aware times in SQLite as UTC text without an offset.
    return [(int(i), int(t), str(k), str(e), f"{str(r).replace(' ', 'T')}+00:00") for i, t, k, e, r in rows]


def _audit(run_dir: Path, terminals: list[dict[str, Any]], employees: list[dict[str, Any]]) -> PunchAudit:
    """Keep what the audit needs beside the emulator's event log, and audit from those files, as anyone can again
    (``harness audit-punches DIR``)."""
    (run_dir / "punches.jsonl").write_text(
        "".join(line + "\n" for line in punch_lines(_stored_punches(run_dir / "db.sqlite3")))
    )
    context = {
        "terminal_of_device": {str(device): t["id"] for device, t in enumerate(terminals)},
        "known_serials": sorted(e["key_serial"] for e in employees),
    }
    (run_dir / "audit-context.json").write_text(json.dumps(context, indent=1))
    audit = audit_files(run_dir)
    (run_dir / "punch-audit.json").write_text(json.dumps(audit.as_dict(), indent=1))
    return audit


def _emulator(
    readers: int, base_port: int, control_port: int, seed: int, run_dir: Path, env: dict[str, str]
) -> ManagedProcess:
    return ManagedProcess(
        name="eks-emulator",
        argv=[
            sys.executable, "-m", "eks_emulator", "--devices", str(readers), "--base-port", str(base_port),
            "--control-port", str(control_port), "--events-log", str(run_dir / "eks-events.jsonl"), "--seed", str(seed),
            "--start-rate", "0", "--progress-interval", "10",
        ],
        log_path=run_dir / "eks-emulator.log",
        env=env,
    )  # fmt: skip


def _gateways(status_ports: list[int], seed: int, run_dir: Path, env: dict[str, str]) -> list[ManagedProcess]:
    """Gateway processes that split the readers between them with ``--shard i/n``."""
    count = len(status_ports)
    return [
        ManagedProcess(
            name=f"eks-gateway-{i}",
            argv=[
                sys.executable,
                "-m",
                "reference_app",
                "eks_gateway",
                "--shard",
                f"{i}/{count}",
                "--status-port",
                str(port),
                "--log-interval-s",
                "5",
                "--seed",
                str(seed + i),
            ],
            log_path=run_dir / f"eks-gateway-{i}.log",
            env=env,
        )  # fmt: skip
        for i, port in enumerate(status_ports)
    ]


#: Seconds without a kiosk delivery, the gateways holding nothing unacknowledged, after which the drain ends early.
_QUIET_S: Final = 5.0


async def _play(
    pool: ThreadPoolExecutor,
    control_port: int,
    schedule: list[BadgeEvent],
    terminals: list[dict[str, Any]],
    employees: list[dict[str, Any]],
    kiosks: list[_Kiosk],
    burst_s: float,
    drain_s: float,
    settled: Callable[[], Awaitable[bool]],
) -> tuple[dict[tuple[int, str], int], dict[tuple[int, str], int]]:
    """Play the badge events on the emulator; return the emulator's insert stamp (ns) of each (terminal, serial),
    and the time (ns, same clock) the schedule meant it to go in.

    Waits until every event's punch reached its kiosk, or no kiosk received anything for ``_QUIET_S`` while
    ``settled()`` (the gateways hold no unacknowledged punch), or ``drain_s`` past the burst; then 2 s more for late
    duplicates.
    """
    loop = asyncio.get_running_loop()
    # loop.time() is time.monotonic(): the clock of the emulator's monotonic_ns stamps, on the same host.
    began = loop.time()
    insert_ns: dict[tuple[int, str], int] = {}
    intended_ns: dict[tuple[int, str], int] = {}
    # A reader holds one key: its next insert waits until the previous key is out.
    in_use = [asyncio.Lock() for _ in terminals]

    async def badge(event: BadgeEvent) -> None:
        await asyncio.sleep(max(0.0, began + event.at_s - loop.time()))
        serial = employees[event.employee]["key_serial"]
        async with in_use[event.reader]:
            path = f"/devices/{event.reader}/insert"
            status, body = await _http(pool, control_port, "POST", path, {"serial": serial})
            if status != 200:
                raise RuntimeError(f"insert into reader {event.reader}: HTTP {status} {body}")
            key = (terminals[event.reader]["id"], serial)
            insert_ns[key] = int(body["event"]["monotonic_ns"])
            intended_ns[key] = round((began + event.at_s) * 1e9)
            # The employee takes the key out again after a short dwell, as at a real clock.
            await asyncio.sleep(event.dwell_s)
            await _http(pool, control_port, "POST", f"/devices/{event.reader}/remove")

    def delivered() -> int:
        return sum(len({p[1]["key_serial"] for p in k.punches}) for k in kiosks)

    inserting = asyncio.gather(*(badge(event) for event in schedule))
    deadline = began + burst_s + drain_s
    last_count, last_change = -1, loop.time()
    while loop.time() < deadline:
        count = delivered()
        if count != last_count:
            last_count, last_change = count, loop.time()
        if inserting.done() and count >= len(schedule):
            break
        # Under faults some punches never reach a kiosk (an insert no gateway saw, a push lost with a worker):
        # once nothing is pending at the gateways and no kiosk got anything for a while, waiting longer shows nothing.
        if inserting.done() and loop.time() - last_change >= _QUIET_S and await settled():
            break
        await asyncio.sleep(0.2)
    await asyncio.wait_for(inserting, max(1.0, deadline - loop.time()))
    await asyncio.sleep(2.0)  # a late duplicate, if any, would show up now
    return insert_ns, intended_ns


def _tally(
    insert_ns: dict[tuple[int, str], int], kiosks: list[_Kiosk], stored: list[tuple[int, int, str, str, str]]
) -> tuple[int, int, dict[tuple[int, str], int]]:
    """Lost inserts, duplicate punches, and the first arrival (ns) of each event's punch at its kiosk."""
    per_event: dict[tuple[int, str], int] = {}
    for _, terminal_id, serial, _, _ in stored:
        per_event[(terminal_id, serial)] = per_event.get((terminal_id, serial), 0) + 1
    lost = sum(1 for key in insert_ns if per_event.get(key, 0) == 0)
    duplicates = sum(max(0, count - 1) for count in per_event.values())
    first_seen: dict[tuple[int, str], int] = {}
    for kiosk in kiosks:
        for received_ns, message in kiosk.punches:
            first_seen.setdefault((kiosk.terminal_id, message["key_serial"]), received_ns)
    return lost, duplicates, first_seen


async def _drive(
    stack: Stack,
    readers: int,
    schedule: list[BadgeEvent],
    burst_s: float,
    seed: int,
    run_dir: Path,
    server: str,
    gateways: int,
    drain_s: float,
    on_gateway: Callable[[str, int], None] | None,
    faults: tuple[FaultSpec, ...] = (),
    fault_targets: FaultTargets | None = None,
) -> ShiftChangeResult:
    credentials = stack.credentials()
    terminals = sorted(credentials["terminals"], key=lambda t: t["reader_port"])[:readers]
    base_port = stack.config.reader_base_port
    env = dict(stack.env)
    # The emulator's control port and the gateways' status ports: one block clear of the readers' ports.
    first = find_free_port_range(1 + gateways, exclude=range(base_port, base_port + readers))
    control_port, status_ports = first, list(range(first + 1, first + 1 + gateways))
    emulator = _emulator(readers, base_port, control_port, seed, run_dir, env).start()
    shard_processes = _gateways(status_ports, seed, run_dir, env)

    def restart_gateways() -> list[ManagedProcess]:
        # What a supervisor does for a gateway that died: the same command again; its journal brings back what
        # the killed one had not seen acknowledged.
        for old in shard_processes:
            old.stop()
        shard_processes[:] = _gateways(status_ports, seed, run_dir, env)
        for gateway in shard_processes:
            gateway.start()
            if on_gateway is not None:
                on_gateway(gateway.name, gateway.pid)
        return list(shard_processes)

    fault_schedule: FaultSchedule | None = None
    supervisor: ProcessSupervisor | None = None
    if faults:
        targets = fault_targets or FaultTargets()
        targets.supervised["gateway"] = Supervised(
            "eks-gateway", current=lambda: list(shard_processes), restart=restart_gateways
        )
        injected: list[int] = []

        def eks_inject(body: dict[str, Any]) -> list[int]:
            status, answer = http_json("127.0.0.1", control_port, "POST", "/faults", {**body, "seed": seed})
            if status != 200:
                raise RuntimeError(f"the emulator refused the fault {body}: HTTP {status} {answer}")
            injected[:] = [int(d) for d in answer["devices"]]
            return list(injected)

        def eks_clear() -> None:
            for device in injected:
                http_json("127.0.0.1", control_port, "DELETE", f"/devices/{device}/faults")

        targets.eks_inject, targets.eks_clear = eks_inject, eks_clear
        # Built before anything plays, so a fault the run cannot inject stops it at once.
        fault_schedule = FaultSchedule(targets, faults)
        supervisor = ProcessSupervisor(targets.supervised)
    kiosks: list[_Kiosk] = []
    listeners: list[asyncio.Task[None]] = []
    drained = True
    timeline: GatewayTimeline | None = None
    polling: asyncio.Task[None] | None = None
    with ThreadPoolExecutor(max_workers=_HTTP_THREADS, thread_name_prefix="shift-change-http") as pool:
        try:
            await _wait_http(
                pool, control_port, "/metrics", lambda b: b["fleet"]["devices_up"] == readers, "emulator", emulator, 60
            )
            for gateway in shard_processes:
                gateway.start()
                if on_gateway is not None:
                    on_gateway(gateway.name, gateway.pid)
            readers_connected = await _wait_connected(pool, status_ports, shard_processes, readers, 60)
            kiosks, kiosk_failures = await _open_kiosks(stack, terminals)
            listeners = [asyncio.get_running_loop().create_task(k.listen()) for k in kiosks]
            meters = {"harness": psutil.Process(), "eks-emulator": psutil.Process(emulator.pid)}
            before = {name: _cpu_s(p) for name, p in meters.items()}
            wall_before = time.monotonic()
            if fault_schedule is not None and supervisor is not None:
                timeline = GatewayTimeline(len(status_ports), _GATEWAY_POLL_S)
                polling = asyncio.get_running_loop().create_task(_poll_gateways(pool, status_ports, timeline))
                supervisor.start()
                fault_schedule.start()
            insert_ns, intended_ns = await _play(
                pool,
                control_port,
                schedule,
                terminals,
                credentials["employees"],
                kiosks,
                burst_s,
                drain_s,
                functools.partial(_acknowledged, pool, status_ports),
            )
            if fault_schedule is not None:
                # Every window is over (and restored) before the drain is judged.
                fault_schedule.stop()
            await _cancelled(polling)
            drained = await _wait_acknowledged(pool, status_ports, wall_before + burst_s + drain_s)
            played_s = time.monotonic() - wall_before
            load_processes = [
                LoadProcessCpu(name, p.pid, 100.0 * (_cpu_s(p) - before[name]) / played_s) for name, p in meters.items()
            ]
            gateway_status = await _gateway_totals(pool, status_ports)
        finally:
            if polling is not None:
                # Whatever it raised, the rest of this block restores what the run changed.
                polling.cancel()
                await asyncio.gather(polling, return_exceptions=True)
            if fault_schedule is not None:
                fault_schedule.stop()
            if supervisor is not None:
                supervisor.stop()
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
            await asyncio.gather(*(k.socket.close() for k in kiosks), return_exceptions=True)
            for gateway in shard_processes:
                gateway.stop()
            emulator.stop()

    audit = _audit(run_dir, terminals, credentials["employees"])
    stored = _stored_punches(run_dir / "db.sqlite3")
    lost, duplicates, first_seen = _tally(insert_ns, kiosks, stored)
    stored_keys = {(terminal, serial) for _, terminal, serial, _, _ in stored}
    latencies_ns = [first_seen[key] - sent for key, sent in insert_ns.items() if key in first_seen]
    latency = LatencyRecorder()
    for value in latencies_ns:
        latency.record_ns(value)
    first_insert = min(insert_ns.values()) if insert_ns else 0
    last_punch = max(first_seen.values(), default=first_insert)
    return ShiftChangeResult(
        server=server,
        readers=readers,
        inserts=len(insert_ns),
        burst_window_s=burst_s,
        burst_duration_s=(last_punch - first_insert) / 1e9,
        punches_stored=len(stored),
        lost=lost,
        duplicates=duplicates,
        kiosks_with_punch=sum(1 for key in insert_ns if key in first_seen),
        latency=latency.summary(),
        gateway=gateway_status,
        gateways=gateways,
        latencies_ns=latencies_ns,
        events=len(schedule),
        timings=sorted(
            (
                EventTiming(intended_ns[key], sent, first_seen.get(key), key[0], key in stored_keys)
                for key, sent in insert_ns.items()
            ),
            key=lambda t: t.intended_ns,
        ),
        load_processes=load_processes,
        readers_connected=readers_connected,
        kiosk_failures=kiosk_failures,
        fault_windows=fault_schedule.windows if fault_schedule is not None else [],
        kiosk_closes=sorted((at, code, k.terminal_id) for k in kiosks for at, code in k.closes),
        kiosk_reconnects=sorted((at, k.terminal_id) for k in kiosks for at in k.reconnects),
        audit=audit,
        drained=drained,
        restarts=supervisor.restarts if supervisor is not None else [],
        gateway_timeline=timeline,
    )


async def _cancelled(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any) and wait for it to end; an error it raised is raised here."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not task.cancelled() or (current is not None and current.cancelling()):
            raise


async def _acknowledged(pool: ThreadPoolExecutor, ports: list[int]) -> bool:
    """Whether every gateway answers and holds no unacknowledged punch."""
    try:
        shards = (await _gateway_totals(pool, ports))["shards"]
    except OSError:
        return False
    return all(int(s.get("gauges", {}).get("punches_pending", 0)) == 0 for s in shards)


async def _wait_acknowledged(pool: ThreadPoolExecutor, ports: list[int], deadline: float) -> bool:
    """Wait (until ``deadline``, monotonic) for every gateway to hold no unacknowledged punch: the database then
    has everything it will get, and the audit can be trusted. A gateway that does not answer counts as not drained."""
    while not await _acknowledged(pool, ports):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _poll_gateways(pool: ThreadPoolExecutor, ports: list[int], timeline: GatewayTimeline) -> None:
    """Add a sample of every gateway's status to ``timeline`` each ``interval_s`` until cancelled."""
    while True:
        at_ns = time.monotonic_ns()
        statuses = await asyncio.gather(
            *(_http(pool, port, "GET", "/status", timeout=1.0) for port in ports), return_exceptions=True
        )
        # A gateway that does not answer (killed, restarting) holds no reader. The sample is of the moment the
        # answers (or the refusals) came: a poll sent just before a kill window began and refused just after it is
        # that window's, not the one before.
        timeline.add(
            time.monotonic_ns(),
            [None if isinstance(s, BaseException) or s[0] != 200 else s[1] for s in statuses],
        )
        await asyncio.sleep(max(0.0, timeline.interval_s - (time.monotonic_ns() - at_ns) / 1e9))


async def _gateway_totals(pool: ThreadPoolExecutor, ports: list[int]) -> dict[str, Any]:
    """The gateways' /status documents summed: connected, reconnects and errors by kind over all shards."""
    totals: dict[str, Any] = {"connected": 0, "reconnects": 0, "errors": {}, "shards": []}
    for port in ports:
        _, status = await _http(pool, port, "GET", "/status")
        totals["shards"].append(status)
        totals["connected"] += status["connected"]
        totals["reconnects"] += status["reconnects"]
        for kind, count in status["errors"].items():
            totals["errors"][kind] = totals["errors"].get(kind, 0) + count
    return totals


async def _wait_connected(
    pool: ThreadPoolExecutor, ports: list[int], processes: list[ManagedProcess], readers: int, timeout: float
) -> int:
    """Wait until the gateways hold every reader's connection, or ``timeout``; return how many they hold."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    connected = 0
    while loop.time() < deadline:
        for process in processes:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited during start-up; its log ends with:\n{process.tail()}")
        try:
            connected = (await _gateway_totals(pool, ports))["connected"]
        except OSError:
            connected = 0
        if connected == readers:
            break
        await asyncio.sleep(0.2)
    return connected


def run_shift_change(
    readers: int, server: str, run_dir: Path, *, burst_s: float = 45.0, seed: int = 1, gateways: int = 1
) -> ShiftChangeResult:
    """Start a stack, run one insert per reader end to end, and return its figures; every process is stopped."""
    if readers < 1:
        raise ValueError(f"--readers must be >= 1, got {readers}")
    if not 1 <= gateways <= readers:
        raise ValueError(f"--gateways must be between 1 and the number of readers, got {gateways}")
    if not 0 < burst_s <= 600:
        raise ValueError(f"--burst-s must be > 0 and <= 600, got {burst_s}")
    base_port = find_free_port_range(readers, seed=seed)
    config = StackConfig(
        server=server,
        layer="redis",
        terminals=readers,
        employees=readers,
        users=2,
        rooms=1,
        reader_base_port=base_port,
        startup_timeout=120,
    )
    with Stack(config, run_dir) as stack:
        return drive_shift_change(
            stack, readers, one_insert_per_reader(readers, burst_s, seed), burst_s, seed, run_dir, gateways
        )


def drive_shift_change(
    stack: Stack,
    readers: int,
    schedule: list[BadgeEvent],
    burst_s: float,
    seed: int,
    run_dir: Path,
    gateways: int = 1,
    *,
    drain_s: float = 60.0,
    on_gateway: Callable[[str, int], None] | None = None,
    faults: tuple[FaultSpec, ...] = (),
    fault_targets: FaultTargets | None = None,
) -> ShiftChangeResult:
    """Run ``schedule`` through emulator, gateway(s), worker and kiosks on a running stack (SQLite in run_dir).

    Args:
        drain_s: how long after the burst a punch may still reach its kiosk before it counts as not delivered.
        on_gateway: called with each gateway process's name and pid once it started (the gateway is part of the
            system under test: a sampler can follow it).
        faults: fault windows, counted from the first badge event; the gateways and the emulator's catalogue are
            added to ``fault_targets`` (the stack's Redis, proxy and worker).
    """
    return asyncio.run(
        _drive(
            stack,
            readers,
            schedule,
            burst_s,
            seed,
            run_dir,
            stack.config.server,
            gateways,
            drain_s,
            on_gateway,
            faults,
            fault_targets,
        )
    )
