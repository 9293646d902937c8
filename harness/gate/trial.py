"""One gate trial: a short open-loop run of the scenario against one arm, with the figures the gate judges.

A trial is the gate's unit of replication. Besides the latency percentiles and the exact delivery counts it
records what says whether the trial can be trusted: whether the generator kept up, the hypervisor's steal and the
longest stall a sleeping thread saw (the hiccup). A trial beyond :data:`DISTURBANCE` is rejected and its pair run
again, never used.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.gate.decision import LossFigures
from harness.load.generator import GeneratorError, run_generator
from harness.measure.accounting import DeliveryCounts
from harness.measure.cpu import machine_cpu, tree_cpu_s
from harness.measure.hiccup import HiccupMeter
from harness.measure.metric_set import MetricSet
from harness.run.plan import GENERATOR_KIND
from harness.scenario import Scenario

__all__ = ["DISTURBANCE", "Arm", "Disturbance", "Trial", "TrialError", "disturbance_reasons", "run_trial"]


class TrialError(RuntimeError):
    """A trial could not run at all (the generator failed to start or wrote nothing)."""


@dataclass(frozen=True, slots=True)
class Disturbance:
    """Bounds beyond which a trial's machine was too disturbed to compare (documented in docs/ci.md)."""

    #: Hypervisor steal, in per cent of all CPU time during the trial.
    steal_percent: float = 10.0
    #: The longest oversleep of a 1 ms sleep during the trial.
    hiccup_ms: float = 50.0


DISTURBANCE: Final = Disturbance()


@dataclass(frozen=True, slots=True)
class Arm:
    """One side of the comparison as a trial needs it.

    Attributes:
        name: ``baseline`` or ``candidate``.
        url: where the scenario's clients connect.
        credentials: the reference app's credentials file, for kinds that log in.
        pids: server processes whose CPU (with their descendants) is charged to this arm; empty when the servers
            are not on this machine or not known (no CPU per message then).
        label: how the arm is described to people (a URL, a git revision).
    """

    name: str
    url: str
    credentials: Path | None = None
    pids: tuple[int, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class Trial:
    """What one trial measured.

    ``figures`` holds the judged metrics: ``cpu_per_message`` (server CPU µs per delivered message over the whole
    trial, connects included) and ``p50``/``p90``/``p99`` of the scenario's gate metric (µs, from the HDR
    histogram). A figure the trial could not measure is absent, never zero.
    """

    arm: str
    pair: int
    attempt: int
    started_at: float
    wall_s: float
    figures: dict[str, float]
    delivered: int
    loss: LossFigures
    server_cpu_s: float | None
    generator_bound: bool
    generator_reasons: tuple[str, ...]
    steal_percent: float | None
    machine_busy_percent: float | None
    hiccup_ms: float
    rejected: tuple[str, ...]
    directory: str
    #: The gate metric's HDR histogram, encoded (hdrh's base64), for the arms' percentile spectra.
    histogram: str = field(repr=False, default="")

    @property
    def usable(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "pair": self.pair,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "wall_s": self.wall_s,
            "figures": dict(self.figures),
            "delivered": self.delivered,
            "loss": {"expected": self.loss.expected, "lost": self.loss.lost, "duplicated": self.loss.duplicated},
            "server_cpu_s": self.server_cpu_s,
            "generator_bound": self.generator_bound,
            "generator_reasons": list(self.generator_reasons),
            "steal_percent": self.steal_percent,
            "machine_busy_percent": self.machine_busy_percent,
            "hiccup_ms": self.hiccup_ms,
            "rejected": list(self.rejected),
            "directory": self.directory,
            "histogram": self.histogram,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        loss = data["loss"]
        return cls(
            arm=str(data["arm"]),
            pair=int(data["pair"]),
            attempt=int(data["attempt"]),
            started_at=float(data["started_at"]),
            wall_s=float(data["wall_s"]),
            figures={str(k): float(v) for k, v in data["figures"].items()},
            delivered=int(data["delivered"]),
            loss=LossFigures(int(loss["expected"]), int(loss["lost"]), int(loss["duplicated"])),
            server_cpu_s=None if data["server_cpu_s"] is None else float(data["server_cpu_s"]),
            generator_bound=bool(data["generator_bound"]),
            generator_reasons=tuple(str(r) for r in data["generator_reasons"]),
            steal_percent=None if data["steal_percent"] is None else float(data["steal_percent"]),
            machine_busy_percent=None if data["machine_busy_percent"] is None else float(data["machine_busy_percent"]),
            hiccup_ms=float(data["hiccup_ms"]),
            rejected=tuple(str(r) for r in data["rejected"]),
            directory=str(data["directory"]),
            histogram=str(data.get("histogram", "")),
        )


def disturbance_reasons(
    steal_percent: float | None, hiccup_ms: float, generator_bound: list[str] | None, bounds: Disturbance
) -> list[str]:
    """Why a trial with these readings cannot be compared (empty when it can).

    Args:
        generator_bound: the generator's reasons when it could not keep up, None when it did.
    """
    reasons = []
    if steal_percent is not None and steal_percent > bounds.steal_percent:
        reasons.append(f"hypervisor steal {steal_percent:.1f} % > {bounds.steal_percent:g} %")
    if hiccup_ms > bounds.hiccup_ms:
        reasons.append(f"the machine stalled {hiccup_ms:.0f} ms > {bounds.hiccup_ms:g} ms (hiccup meter)")
    if generator_bound is not None:
        reasons.append("the generator could not keep up: " + ("; ".join(generator_bound) or "no reason given"))
    return reasons


def run_trial(
    scenario: Scenario,
    arm: Arm,
    *,
    pair: int,
    attempt: int,
    out_dir: Path,
    run_id: str,
    bounds: Disturbance = DISTURBANCE,
) -> Trial:
    """Run one trial of ``scenario`` against ``arm`` and measure it.

    Raises:
        TrialError: the generator could not run (the message says why and where its log is).
    """
    gate, load = scenario.gate, scenario.load
    rate = load.rate or 1.0
    cpu_before = tree_cpu_s(arm.pids) if arm.pids else None
    machine_before = machine_cpu()
    started_at, t0 = time.time(), time.monotonic()
    meter = HiccupMeter().start()
    try:
        result = run_generator(
            arm.url,
            GENERATOR_KIND[scenario.kind],
            users=load.users,
            spawn_rate=load.spawn_rate,
            duration_s=gate.trial_s,
            rate_per_user=rate,
            arrival=load.arrival,
            credentials=arm.credentials,
            run_id=f"{run_id}-{pair}-{arm.name}-{attempt}",
            out_dir=out_dir,
            # The trial's own warm-up and grace: short, since only comparisons between trials are made.
            warmup_s=min(scenario.warmup_s, 2.0),
            grace_s=min(scenario.grace_s, 2.0),
            room_size=load.room_size or 0,
            payload_bytes=load.payload_bytes,
            extra_args=("--harness-seed", str(scenario.seed + pair)),
        )
    except GeneratorError as exc:
        raise TrialError(f"{arm.name} trial of pair {pair} ({arm.label or arm.url}): {exc}") from exc
    finally:
        hiccup = meter.stop()
    wall = time.monotonic() - t0
    cpu_after = tree_cpu_s(arm.pids) if arm.pids else None
    machine_after = machine_cpu()
    metrics = MetricSet.from_dict(result.result["metrics"])
    delivery = DeliveryCounts.from_dict(result.result["delivery"])
    figures: dict[str, float] = {}
    histogram = ""
    rejected: list[str] = []
    if gate.metric in metrics and metrics.recorder(gate.metric).count > 0:
        recorder = metrics.recorder(gate.metric)
        summary = recorder.summary()
        for name in ("p50", "p90", "p99"):
            value = float(getattr(summary, name))
            if value > 0:
                figures[name] = value
        histogram = recorder.encode()
    else:
        rejected.append(f"no {gate.metric} was recorded (0 deliveries timed)")
    server_cpu = None
    if cpu_before is not None and cpu_after is not None:
        server_cpu = cpu_after - cpu_before
        if delivery.received > 0 and server_cpu > 0:
            figures["cpu_per_message"] = server_cpu * 1e6 / delivery.received
    elif arm.pids:
        rejected.append(f"the server processes {list(arm.pids)} were gone before the trial ended")
    steal = busy = None
    if machine_before is not None and machine_after is not None:
        steal = machine_after.steal_percent_since(machine_before)
        busy = machine_after.busy_percent_since(machine_before)
    health = result.result["generator_health"]
    reasons = [str(r) for r in health["generator_bound_reasons"]] if result.generator_bound else None
    rejected += disturbance_reasons(steal, hiccup, reasons, bounds)
    return Trial(
        arm=arm.name,
        pair=pair,
        attempt=attempt,
        started_at=started_at,
        wall_s=wall,
        figures={k: v for k, v in figures.items() if math.isfinite(v)},
        delivered=delivery.received,
        loss=LossFigures(delivery.expected, delivery.lost, delivery.duplicated),
        server_cpu_s=server_cpu,
        generator_bound=result.generator_bound,
        generator_reasons=tuple(str(r) for r in health["generator_bound_reasons"]),
        steal_percent=steal,
        machine_busy_percent=busy,
        hiccup_ms=hiccup,
        rejected=tuple(rejected),
        directory=str(out_dir),
        histogram=histogram,
    )
