"""``harness conform``: runs the conformance groups across servers, WebSocket implementations and channel layers.

Groups and what each runs against:

- ``wire`` (RFC 6455 / 7692, Autobahn's cases): each server implementation serving the raw echo app;
- ``asgi`` (ASGI 2.5 server behaviour): each server implementation serving the probe app;
- ``layer`` (Channel Layer Specification): each layer backend, no server involved;
- ``security`` and ``app`` (Channels' origin and auth stack, the reference app's protocols): a reference-app stack per
  server x layer cell.

A check that does not depend on a dimension is run once for it, and its record says ``-`` there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.conformance.app_checks import run_app_checks
from harness.conformance.app_client import AppTarget
from harness.conformance.asgi_checks import probe_absent, probe_absent_result, run_asgi_checks
from harness.conformance.authz_fuzz import run_authz_fuzz
from harness.conformance.catalogue import wire_deviations
from harness.conformance.implementations import IMPLEMENTATIONS, label
from harness.conformance.layers.model import LayerCheckResult
from harness.conformance.layers.runner import run_layer_checks
from harness.conformance.model import CheckResult, Verdict
from harness.conformance.robustness import run_robustness_checks
from harness.conformance.runner import run_wire_checks
from harness.conformance.security_checks import run_security_checks
from harness.stack import Stack, StackConfig
from harness.stack.layers import LAYERS, layer_spec
from harness.stack.network import free_port
from harness.stack.redis import RedisServer
from harness.stack.servers import ServerSpec

__all__ = [
    "TARGET_GROUPS",
    "GROUPS",
    "IMPLEMENTATIONS",
    "ConformConfig",
    "Record",
    "run_conformance",
    "serving",
]

GROUPS = ("wire", "asgi", "layer", "security", "app", "robustness", "authz")
#: Groups a plain ``harness conform`` leaves out: robustness needs --target, authz takes minutes per cell.
OPT_IN_GROUPS = ("robustness", "authz")
#: The groups that run against a server the harness did not start (``--target``), and the default there.
TARGET_GROUPS = ("wire", "asgi", "robustness")
#: Verdicts that fail the run unless the check is a known deviation.
FAILING = frozenset({"FAILED"})
NOT_APPLICABLE = "-"


@dataclass
class Record:
    """One check's outcome in one cell: the unit of index.json, the report and the JUnit file."""

    id: str
    group: str
    category: str
    source: str
    server: str
    ws_impl: str
    layer: str
    behaviour: str
    behaviour_close: str | None
    remote_close_code: int | None
    duration_s: float
    notes: list[str] = field(default_factory=list)
    wire_log: list[str] = field(default_factory=list)
    known_deviation: str | None = None

    @property
    def cell(self) -> str:
        return f"{self.server}/{self.ws_impl} x {self.layer}"

    @property
    def fails_run(self) -> bool:
        return self.behaviour in FAILING and self.known_deviation is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group": self.group,
            "category": self.category,
            "source": self.source,
            "server": self.server,
            "ws_impl": self.ws_impl,
            "layer": self.layer,
            "behaviour": self.behaviour,
            "behaviour_close": self.behaviour_close,
            "remote_close_code": self.remote_close_code,
            "duration_s": round(self.duration_s, 4),
            "notes": self.notes,
            "wire_log": self.wire_log if self.behaviour in FAILING else [],
            "known_deviation": self.known_deviation,
        }


@dataclass(frozen=True)
class ConformConfig:
    implementations: tuple[str, ...] = tuple(IMPLEMENTATIONS)
    layers: tuple[str, ...] = tuple(LAYERS)
    groups: tuple[str, ...] = tuple(g for g in GROUPS if g not in OPT_IN_GROUPS)
    target: str | None = None
    include_slow: bool = False
    unit: float = 1.0
    #: Attempts of the authorization fuzz per server and layer (group authz).
    authz_attempts: int = 10_000

    def check(self) -> None:
        for name in self.implementations:
            if name not in IMPLEMENTATIONS:
                raise ValueError(f"unknown server implementation {name!r}; known: {', '.join(IMPLEMENTATIONS)}")
        for layer in self.layers:
            layer_spec(layer)
        for group in self.groups:
            if group not in GROUPS:
                raise ValueError(f"unknown group {group!r}; known: {', '.join(GROUPS)}")
        if self.target is not None:
            extra = sorted(set(self.groups) - set(TARGET_GROUPS))
            if extra:
                raise ValueError(
                    f"--target runs the {', '.join(TARGET_GROUPS)} groups only; drop --groups {','.join(extra)}"
                )
            if not self.target.startswith(("ws://", "wss://")):
                raise ValueError(f"--target {self.target!r}: expected a ws:// URL")
        elif "robustness" in self.groups:
            raise ValueError("the robustness group runs against --target only (your own app)")
        if self.authz_attempts < 1:
            raise ValueError(f"--authz-attempts must be >= 1, got {self.authz_attempts}")


@contextmanager
def serving(spec: ServerSpec, app: str, log_dir: Path) -> Iterator[str]:
    """Serve the ASGI ``app`` (not the reference app) with ``spec`` on a free port; yield its ws:// base URL."""
    port = free_port()
    module = app.split(":")[0].rsplit(".", 1)[-1]
    launch = spec.launch(
        app=app, host="127.0.0.1", port=port, workers=1, env=dict(os.environ), log_dir=log_dir / f"{spec.name}-{module}"
    ).start()
    try:
        launch.wait_ready()
        # Uvicorn logs its ready marker after lifespan startup but before it binds the port.
        launch.processes[0].wait_listening(port)
        yield f"ws://127.0.0.1:{port}"
    finally:
        launch.stop()


def _check_records(results: Sequence[CheckResult], spec: ServerSpec | None, target: str | None) -> list[Record]:
    server, ws_impl = (spec.program, str(spec.ws_impl)) if spec else (target or "target", NOT_APPLICABLE)
    return [
        Record(
            id=r.id,
            group=r.group,
            category=r.category,
            source=r.source,
            server=server,
            ws_impl=ws_impl,
            layer=NOT_APPLICABLE,
            behaviour=str(r.behaviour),
            behaviour_close=str(r.behaviour_close),
            remote_close_code=r.remote_close_code,
            duration_s=r.duration_s,
            notes=list(r.notes),
            wire_log=list(r.wire_log),
            known_deviation=r.known_deviation,
        )
        for r in results
    ]


def _layer_records(layer: str, results: Sequence[LayerCheckResult]) -> list[Record]:
    return [
        Record(
            id=r.id,
            group="layer",
            category=r.category,
            source=f"Channel Layer Specification: “{r.spec_quote}”",
            server=NOT_APPLICABLE,
            ws_impl=NOT_APPLICABLE,
            layer=layer,
            behaviour=str(r.verdict),
            behaviour_close=None,
            remote_close_code=None,
            duration_s=r.duration_s,
            notes=[f"{r.title}: {r.detail}"] if r.detail else [r.title],
            known_deviation=r.link if r.verdict is Verdict.KNOWN_DEVIATION else None,
        )
        for r in results
    ]


Progress = Callable[[str], None]


def run_conformance(config: ConformConfig, out_dir: Path, progress: Progress = print) -> list[Record]:
    config.check()
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = out_dir / "logs"
    records: list[Record] = []
    specs = [IMPLEMENTATIONS[name] for name in config.implementations]

    if "wire" in config.groups:
        if config.target is not None:
            progress(f"wire: {config.target}")
            records += _check_records(
                run_wire_checks(config.target, include_slow=config.include_slow, unit=config.unit), None, config.target
            )
        for spec in specs if config.target is None else []:
            progress(f"wire: {label(spec)}")
            with serving(spec, "harness.conformance.echo_app:app", logs) as base:
                results = run_wire_checks(
                    f"{base}/",
                    include_slow=config.include_slow,
                    unit=config.unit,
                    known_deviations=wire_deviations(spec.name),
                    max_message_size=spec.max_message_size,
                )
            records += _check_records(results, spec, None)

    if "robustness" in config.groups and config.target is not None:
        progress(f"robustness: {config.target} (malformed input, two bystander sockets)")
        records += _check_records(
            run_robustness_checks(config.target, unit=config.unit, progress=progress), None, config.target
        )

    if "asgi" in config.groups:
        if config.target is not None:
            parts = urlsplit(config.target)
            base = f"{parts.scheme}://{parts.netloc}"
            absent = probe_absent(base, unit=config.unit)
            if absent is None:
                progress(f"asgi: {config.target} (harness.conformance.asgi_probe:app answers there)")
                records += _check_records(run_asgi_checks(base, unit=config.unit), None, config.target)
            else:
                progress(f"asgi: not applicable at {config.target}: the probe app is not there")
                records += _check_records([probe_absent_result(absent)], None, config.target)
        for spec in specs if config.target is None else []:
            progress(f"asgi: {label(spec)}")
            with serving(spec, "harness.conformance.asgi_probe:app", logs) as base:
                results = run_asgi_checks(base, unit=config.unit, server=spec.name)
            records += _check_records(results, spec, None)

    app_groups = [g for g in ("app", "security", "authz") if g in config.groups]
    if app_groups:
        for spec in specs:
            for layer in config.layers:
                progress(f"{' and '.join(app_groups)}: {label(spec)} x {layer}")
                stack_config = StackConfig(server=spec.name, layer=layer, users=12, rooms=3, employees=6, terminals=3)
                with Stack(stack_config, out_dir / "stacks" / f"{spec.name}-{layer}") as stack:
                    target = AppTarget(stack.http_url, stack.ws_url, stack.credentials(), timeout=5.0 * config.unit)
                    # The app checks first: the security checks log one user in through the form, which rehashes
                    # its password and ends that user's prepared session.
                    results = run_app_checks(target) if "app" in app_groups else []
                    if "security" in app_groups:
                        results += run_security_checks(target)
                    if "authz" in app_groups:
                        results += run_authz_fuzz(target, count=config.authz_attempts)
                records += [dataclasses.replace(r, layer=layer) for r in _check_records(results, spec, None)]

    if "layer" in config.groups:
        redis: RedisServer | None = None
        try:
            for layer in config.layers:
                backend = layer_spec(layer)
                if backend.needs_redis and redis is None:
                    redis = RedisServer(log_dir=logs).start()
                progress(f"layer: {layer}")
                layer_results = run_layer_checks(
                    backend.backend,
                    backend.config(redis.url if redis else None),
                    include_slow=config.include_slow,
                    jobs=4,
                )
                records += _layer_records(layer, layer_results)
        finally:
            if redis is not None:
                redis.stop()
    return records
