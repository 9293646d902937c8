"""The typed shape of result.json (schema version 2), one TypedDict per ``$defs`` entry of ``result-v2.json``.

The dataclasses of :mod:`harness.results.document` and :mod:`harness.measure` hold a cell's measurements while a
run is going; these TypedDicts are what those become in the file, and what every reader of a result (reports, SLO
verdicts, a gate comparing two runs) may rely on. The generator's own file (``generator.json``) uses the same
shapes for the parts it shares with a cell: delivery, connect failures, unexpected closes, process health and the
time series. ``tests/harness/test_schema.py`` checks that every key and every required key here is the schema's.
"""

# No ``from __future__ import annotations`` here: TypedDict reads NotRequired[...] from evaluated annotations only
# (Python 3.11 counts a key whose annotation is a string as required).
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "CellDoc",
    "ConnectFailuresDoc",
    "DeliveryDoc",
    "FingerprintDoc",
    "GeneratorHealthDoc",
    "GroupSizeMetricDoc",
    "HealthThresholdsDoc",
    "JoinStormDoc",
    "LatencySummaryDoc",
    "LayerPressureDoc",
    "MetricDoc",
    "ProcessCpuDoc",
    "ProcessHealthDoc",
    "ProcessSampleDoc",
    "RedisSampleDoc",
    "ResultDoc",
    "ServerProcessDoc",
    "ServerResourcesDoc",
    "SloVerdictDoc",
    "TimePointDoc",
    "TimeSeriesDoc",
]


class LatencySummaryDoc(TypedDict):
    count: int
    min: int
    mean: float
    p50: int
    p90: int
    p99: int
    p99_9: int
    p99_99: int
    max: int
    out_of_range: int
    max_out_of_range: int
    negative: int
    unit: Literal["us"]


class MetricDoc(LatencySummaryDoc):
    highest_trackable_us: int
    significant_figures: int
    histogram: str


class DeliveryDoc(TypedDict):
    streams: int
    expected: int
    received: int
    distinct: int
    lost: int
    duplicated: int
    reordered: int
    outside_expected: int
    late_untracked: int
    exact: bool
    cut_off: NotRequired[int]


class ConnectFailuresDoc(TypedDict):
    http_403: int
    refused: int
    timeout: int
    handshake_error: int
    other: int


class ProcessCpuDoc(TypedDict):
    mean: float
    max: float
    samples: int


class ProcessHealthDoc(TypedDict):
    process_id: str
    role: str
    host: str
    pid: int
    cpu_percent: ProcessCpuDoc
    send_lag_p99_us: int
    generator_bound: bool
    generator_bound_reasons: list[str]


class HealthThresholdsDoc(TypedDict):
    cpu_percent: float
    send_lag_p99_ms: float


class UserErrorDoc(TypedDict):
    count: int
    message: str


class FaultWindowDoc(TypedDict):
    kind: NotRequired[str]
    target: NotRequired[str]
    label: NotRequired[str]
    toxic: str | None
    path: str | None
    direction: str | None
    start_s: float
    duration_s: float
    began_wall_s: float | None
    ended_wall_s: float | None
    deliveries_during: int | None
    sent_during: int | None
    recovered_after_s: int | None
    began: NotRequired[str | None]
    ended: NotRequired[str | None]
    error: NotRequired[str | None]
    first_punch_after_s: NotRequired[float | None]
    kiosk_closes: NotRequired[dict[str, int]]
    first_close_after_s: NotRequired[float | None]
    kiosk_reconnects: NotRequired[int]
    silent_kiosks: NotRequired[list[int]]
    kiosks_checked: NotRequired[int]
    punches: NotRequired[dict[str, int]]
    socket_closes: NotRequired[dict[str, int]]
    reconnects: NotRequired[int]
    sends_unavailable: NotRequired[int]
    room_messages: NotRequired[dict[str, int]]
    first_room_message_after_s: NotRequired[float | None]
    silent_members: NotRequired[int]
    silent_members_listed: NotRequired[list[str]]
    members_checked: NotRequired[int]
    slowest_member_after_s: NotRequired[float | None]
    gateway_reconnects: NotRequired[int]
    gateway_readers_dropped: NotRequired[int]
    gateway_first_drop_after_s: NotRequired[float | None]
    gateway_readers_back_after_s: NotRequired[float | None]
    gateway_polls: NotRequired[int]
    gateway_poll_s: NotRequired[float]


class PunchAuditDoc(TypedDict):
    inserts: int
    stored_once: int
    recovered_late: int
    lost: int
    cut_off: int
    unseen: int
    duplicated: int
    unexpected: int
    late_s: float
    max_store_delay_s: float | None
    lost_examples: list[str]
    cut_off_examples: list[str]
    duplicated_examples: list[str]
    unexpected_examples: list[str]
    unseen_examples: list[str]
    exactly_once: bool


class RestartDoc(TypedDict):
    process: str
    wall_s: float
    monotonic_s: float
    exit_code: int | None
    old_pid: int
    new_pids: list[int]
    error: str | None


class GeneratorHealthDoc(TypedDict):
    processes: list[ProcessHealthDoc]
    thresholds: HealthThresholdsDoc
    send_lag: LatencySummaryDoc
    generator_bound: bool
    generator_bound_reasons: list[str]
    user_errors: NotRequired[list[UserErrorDoc]]
    request_failures: NotRequired[list[UserErrorDoc]]
    ended_early: NotRequired[list[str]]


class ProcessSampleDoc(TypedDict):
    t_s: float
    cpu_percent: float
    rss_bytes: int
    num_fds: int


class ServerProcessDoc(TypedDict):
    name: str
    pid: int
    samples: list[ProcessSampleDoc]


class RedisSampleDoc(TypedDict):
    t_s: float
    ops_per_sec: int
    used_memory_bytes: int
    connected_clients: int


class ServerResourcesDoc(TypedDict):
    processes: list[ServerProcessDoc]
    redis: NotRequired[list[RedisSampleDoc]]


# "pass" is a keyword, so this one is spelt the functional way.
SloVerdictDoc = TypedDict(
    "SloVerdictDoc",
    {
        "metric": str,
        "statistic": str,
        "limit": float,
        "bound": NotRequired[Literal["max", "min"]],
        "observed": float | None,
        "unit": str,
        "pass": bool,
        "sentence": NotRequired[str],
    },
)


class TimePointDoc(TypedDict):
    t_s: float
    epoch_s: int
    sent: int
    received: int
    errors: int
    connections: int
    service_time_p99_us: int | None
    response_time_p99_us: int | None


class TimeSeriesDoc(TypedDict):
    interval_s: float
    points: list[TimePointDoc]


class GroupSizeMetricDoc(TypedDict):
    group_size: int
    groups: int
    metric: MetricDoc


class JoinStormDoc(TypedDict):
    group_size: int
    groups: int
    members: int
    connected: int
    all_joined: bool
    connect: LatencySummaryDoc
    presence_expected_min: int
    presence_expected_max: int
    presence_received: int
    presence_after_release: int
    duration_s: float | None
    settled: bool


class LayerPressureDoc(TypedDict):
    observable: bool
    group_send_over_capacity: int
    channel_full: int
    source: str


class CellDoc(TypedDict):
    server: str
    layer: str
    workers: int
    scenario: str
    parameters: NotRequired[dict[str, Any]]
    duration_s: NotRequired[float]
    metrics: dict[str, MetricDoc]
    delivery: DeliveryDoc
    foreign_messages: NotRequired[dict[str, int]]
    connect_failures: ConnectFailuresDoc
    unexpected_closes: dict[str, int]
    generator_health: GeneratorHealthDoc
    server_resources: ServerResourcesDoc
    slo_verdicts: list[SloVerdictDoc]
    timeseries: NotRequired[TimeSeriesDoc]
    fanout_by_group_size: NotRequired[list[GroupSizeMetricDoc]]
    join_storm_by_group_size: NotRequired[list[JoinStormDoc]]
    layer_pressure: NotRequired[LayerPressureDoc]
    punch_audit: NotRequired[PunchAuditDoc]
    restarts: NotRequired[list[RestartDoc]]
    soak: NotRequired[dict[str, Any]]
    faults: NotRequired[list[FaultWindowDoc]]


class FingerprintDoc(TypedDict):
    timestamp_utc: str
    python_version: str
    python_implementation: str
    python_executable: str
    packages: dict[str, str]
    redis_server: str
    cpu_model: str
    cpu_count: int
    cpu_affinity: int | None
    os: str
    kernel: str
    machine: str
    hostname: str
    git_commit: str | None
    git_dirty: bool | None
    argv: list[str]
    seed: int | None
    layer_settings: NotRequired[dict[str, dict[str, Any]]]


class ResultDoc(TypedDict):
    schema_version: Literal[2]
    run_id: str
    created: str
    fingerprint: FingerprintDoc
    config: dict[str, Any]
    cells: list[CellDoc]
