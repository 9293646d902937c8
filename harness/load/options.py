"""The ``--harness-*`` options of the Locust generator and the resolved :class:`HarnessConfig`.

Imports neither locust nor gevent, so the options and the schedules they make are tested in a plain process; the
locustfile registers :func:`add_arguments` with Locust's ``init_command_line_parser`` event.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from harness.load.schedule import Schedule, build_schedule, parse_stages
from harness.load.settle import DEFAULT_QUIET_S, DEFAULT_TIMEOUT_S
from harness.measure.aggregation import GENERATOR_CPU_LIMIT_PERCENT, GENERATOR_LAG_LIMIT_MS, HealthThresholds
from harness.measure.live import LIVE_WINDOW_S

__all__ = [
    "ARRIVALS",
    "KIND_CLASSES",
    "KINDS",
    "RECONNECT_KINDS",
    "SETTLE_KINDS",
    "SHAPES",
    "WARMUP_FROM",
    "HarnessConfig",
    "add_arguments",
    "check_warmup_from",
]

KINDS: Final = ("echo", "broadcast", "chat", "notifications", "kiosk", "connect-storm", "app")
KIND_CLASSES: Final[dict[str, tuple[str, ...]]] = {
    "echo": ("EchoUser",),
    "broadcast": ("BroadcastUser",),
    "chat": ("ChatUser",),
    "notifications": ("NotificationListenerUser", "NotificationPublisherUser"),
    "kiosk": ("KioskUser",),
    "connect-storm": ("ConnectStormUser",),
    "app": ("AppUser",),
}
#: ``ramp`` and ``steps`` are the older spelling of ``--harness-shape`` with constant arrivals, still accepted.
ARRIVALS: Final = ("constant", "poisson", "ramp", "steps")
SHAPES: Final = ("constant", "ramp", "steps")
#: What the warm-up counts from: each user's connect, its process's test start, or the release of the settle barrier
#: (harness.load.settle).
WARMUP_FROM: Final = ("connect", "start", "settle")
#: Kinds whose users may wait at the settle barrier: one socket each, opened before their warm-up.
SETTLE_KINDS: Final = ("echo", "broadcast", "chat", "app")
#: Kinds whose users can reconnect (--harness-reconnect): one socket each, whose group says what it is owed.
RECONNECT_KINDS: Final = ("echo", "broadcast", "chat")
#: How long a user keeps sending when --harness-send-seconds is 0: until Locust stops it.
_FOREVER_S: Final = 10 * 24 * 3600.0
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
    warmup_from: str
    settle_quiet_s: float
    settle_timeout_s: float
    grace_s: float
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
    app: str
    reconnect: bool

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
            warmup_from=str(get("warmup_from")),
            settle_quiet_s=float(get("settle_quiet")),
            settle_timeout_s=float(get("settle_timeout")),
            grace_s=float(get("grace")),
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
            app=str(get("app") or ""),
            reconnect=bool(get("reconnect")),
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


def check_warmup_from(kind: str, warmup_from: str) -> None:
    """Refuse a warm-up origin the kind's users cannot follow.

    Raises:
        ValueError: naming the origin and the kinds that accept it.
    """
    if warmup_from not in WARMUP_FROM:
        raise ValueError(f"warmup_from must be one of {', '.join(WARMUP_FROM)}, got {warmup_from!r}")
    if warmup_from == "settle" and kind not in SETTLE_KINDS:
        raise ValueError(
            f"--harness-warmup-from settle needs users with one socket each ({', '.join(SETTLE_KINDS)}); "
            f"--harness-kind {kind} has none to wait at the barrier"
        )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (a number), got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text}")
    return value


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
        f"{LIVE_WINDOW_S} whole seconds (msgs/s, response-time p99) and the connections and errors now; '' for none",
    )
    add("send-seconds", type=float, default=0.0, help="each user sends this long, then only receives (0: no end)")
    add("warmup", type=float, default=1.0, help="seconds between connecting and the first send")
    add(
        "warmup-from",
        choices=WARMUP_FROM,
        default="connect",
        help="connect: each user waits --harness-warmup after its own connect (users spawned later send later); "
        "start: every user sends from --harness-warmup seconds after its process's test start, so all users send "
        "over the same window (the warm-up must then cover the spawning); settle: every user of a process waits "
        "until all of them have connected and no presence frame has been read for --harness-settle-quiet seconds "
        "(at most --harness-settle-timeout after spawning), then all send from --harness-warmup after that "
        f"({', '.join(SETTLE_KINDS)} only)",
    )
    add(
        "settle-quiet",
        type=_seconds,
        default=DEFAULT_QUIET_S,
        help="--harness-warmup-from settle: seconds without a presence frame or a connect ending that make the "
        "rooms joined",
    )
    add(
        "settle-timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_S,
        help="--harness-warmup-from settle: seconds after spawning completed when the users send anyway (the "
        "result then says the join storm did not settle)",
    )
    add(
        "grace",
        type=float,
        default=2.0,
        help="--harness-warmup-from settle: seconds after the last send until the test ends, for messages in flight "
        "to arrive (other runs end at Locust's --run-time)",
    )
    add("max-inflight", type=int, default=0, help="unanswered own messages per user before sending waits (0: none)")
    add(
        "reconnect",
        action="store_true",
        default=False,
        help=f"a user whose socket closes connects again with jittered backoff, as a page would "
        f"({', '.join(RECONNECT_KINDS)}); what it was owed is what was sent while it was a member "
        "(harness.measure.membership)",
    )
    add("origin", default="", help="Origin header (default: derived from the target)")
    add(
        "app",
        default="",
        help="--harness-kind app: the app's protocol as JSON (harness.scenario.app.AppProtocol.to_json): "
        "path, message template, who receives each message",
    )
    add("publishers", type=int, default=1, help="notification publisher users")
    add("storm-hold", type=float, default=0.0, help="connect-storm: seconds each socket stays open")
    add(
        "cpu-limit",
        type=float,
        default=GENERATOR_CPU_LIMIT_PERCENT,
        help="generator_bound above this mean CPU percent of one core",
    )
    add("lag-limit-ms", type=float, default=GENERATOR_LAG_LIMIT_MS, help="generator_bound above this send-lag p99")
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
