"""``harness conform``: the conformance groups across servers, WebSocket implementations and channel layers.

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
import datetime as dt
import html
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from harness.conformance.app_checks import run_app_checks
from harness.conformance.app_client import AppTarget
from harness.conformance.asgi_checks import run_asgi_checks
from harness.conformance.catalogue import wire_cases
from harness.conformance.model import KnownDeviation
from harness.conformance.runner import run_wire_checks
from harness.conformance.security_checks import run_security_checks
from harness.layer_conformance.runner import run_layer_checks
from harness.measure.fingerprint import collect_fingerprint
from harness.stack import Stack, StackConfig
from harness.stack.layers import layer_spec
from harness.stack.network import free_port
from harness.stack.processes import ManagedProcess
from harness.stack.redis import RedisServer

__all__ = [
    "GROUPS",
    "IMPLEMENTATIONS",
    "ConformConfig",
    "Implementation",
    "Record",
    "render_junit",
    "render_report",
    "run_conformance",
]

GROUPS = ("wire", "asgi", "layer", "security", "app")
#: Verdicts that fail the run unless the check is a known deviation.
FAILING = frozenset({"FAILED"})
NOT_APPLICABLE = "-"


@dataclass(frozen=True)
class Implementation:
    """A server and the WebSocket implementation it runs."""

    server: str
    ws_impl: str
    #: Name in harness.stack.servers.SERVERS, for stacks of the reference app.
    stack_server: str
    #: The server's default WebSocket message limit, for the boundary checks (lim.6-lim.9; --slow above 4 MiB).
    max_message_size: int

    @property
    def label(self) -> str:
        return f"{self.server}/{self.ws_impl}"

    def argv(self, app: str, port: int) -> list[str]:
        if self.server == "daphne":
            return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--access-log", os.devnull, app]
        return [
            sys.executable, "-m", "uvicorn", app, "--ws", self.ws_impl,
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip


IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.label: impl
    for impl in (
        Implementation("daphne", "autobahn", "daphne", 1024 * 1024),
        Implementation("uvicorn", "websockets-sansio", "uvicorn-sansio", 16 * 1024 * 1024),
        Implementation("uvicorn", "wsproto", "uvicorn-wsproto", 16 * 1024 * 1024),
    )
}


def wire_deviations(impl: Implementation) -> list[KnownDeviation]:
    """Known wire deviations of a server implementation: failures reported, with their upstream reference."""
    if impl.server != "daphne":
        return []
    all_ids = {case.id for case in wire_cases()}
    return [
        KnownDeviation(
            frozenset({"1.1.1", "1.2.1", "6.1.1", "6.1.2", "9.7.1", "9.8.1"}),
            "https://github.com/django/daphne/blob/main/daphne/ws_protocol.py",
            "Daphne sends an app's text or bytes only when the value is truthy, so empty messages are never sent "
            "(handle_reply); no upstream issue was found, the link is the source",
        ),
        KnownDeviation(
            frozenset(i for i in all_ids if i.startswith("13.")),
            "https://github.com/crossbario/autobahn-python/issues/1018",
            "autobahn refuses max_window_bits=8 (zlib cannot compress with a 256-byte window) and Daphne answers "
            "such a permessage-deflate offer with HTTP 400 instead of declining the extension",
        ),
    ]


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
    layers: tuple[str, ...] = ("inmemory", "redis", "redis-pubsub")
    groups: tuple[str, ...] = GROUPS
    target: str | None = None
    include_slow: bool = False
    unit: float = 1.0

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
            extra = sorted(set(self.groups) - {"wire", "asgi"})
            if extra:
                raise ValueError(f"--target runs the wire and asgi groups only; drop --groups {','.join(extra)}")
            if not self.target.startswith(("ws://", "wss://")):
                raise ValueError(f"--target {self.target!r}: expected a ws:// URL")


@contextmanager
def serving(impl: Implementation, app: str, log_dir: Path) -> Iterator[str]:
    """Serve the ASGI ``app`` with ``impl`` on a free port; yield its ws:// base URL."""
    port = free_port()
    process = ManagedProcess(
        name=f"{impl.server}-{impl.ws_impl}-{app.split(':')[0].rsplit('.', 1)[-1]}",
        argv=impl.argv(app, port),
        log_path=log_dir / f"{impl.server}-{impl.ws_impl}-{port}.log",
    ).start()
    try:
        process.wait_listening(port)
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.stop()


def _check_records(results: Sequence[Any], impl: Implementation | None, target: str | None) -> list[Record]:
    server, ws_impl = (impl.server, impl.ws_impl) if impl else (target or "target", NOT_APPLICABLE)
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


def _layer_records(layer: str, results: Sequence[Any]) -> list[Record]:
    return [
        Record(
            id=r.id,
            group="layer",
            category=r.category,
            source=f"Channel Layer Specification: “{r.spec_quote}”",
            server=NOT_APPLICABLE,
            ws_impl=NOT_APPLICABLE,
            layer=layer,
            # One spelling of the vocabulary across groups.
            behaviour=str(r.verdict).replace("KNOWN-DEVIATION", "KNOWN DEVIATION"),
            behaviour_close=None,
            remote_close_code=None,
            duration_s=r.duration_s,
            notes=[f"{r.title}: {r.detail}"] if r.detail else [r.title],
            known_deviation=(r.link or "known deviation") if str(r.verdict) == "KNOWN-DEVIATION" else None,
        )
        for r in results
    ]


Progress = Callable[[str], None]


def run_conformance(config: ConformConfig, out_dir: Path, progress: Progress = print) -> list[Record]:
    config.check()
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = out_dir / "logs"
    records: list[Record] = []
    impls = [IMPLEMENTATIONS[name] for name in config.implementations]

    if "wire" in config.groups:
        if config.target is not None:
            progress(f"wire: {config.target}")
            records += _check_records(
                run_wire_checks(config.target, include_slow=config.include_slow, unit=config.unit), None, config.target
            )
        for impl in impls if config.target is None else []:
            progress(f"wire: {impl.label}")
            with serving(impl, "harness.conformance.echo_app:app", logs) as base:
                results = run_wire_checks(
                    f"{base}/",
                    include_slow=config.include_slow,
                    unit=config.unit,
                    known_deviations=wire_deviations(impl),
                    max_message_size=impl.max_message_size,
                )
            records += _check_records(results, impl, None)

    if "asgi" in config.groups:
        if config.target is not None:
            parts = urlsplit(config.target)
            progress(f"asgi: {config.target} (expects harness.conformance.asgi_probe:app there)")
            records += _check_records(
                run_asgi_checks(f"{parts.scheme}://{parts.netloc}", unit=config.unit), None, config.target
            )
        for impl in impls if config.target is None else []:
            progress(f"asgi: {impl.label}")
            with serving(impl, "harness.conformance.asgi_probe:app", logs) as base:
                results = run_asgi_checks(base, unit=config.unit, server=impl.stack_server)
            records += _check_records(results, impl, None)

    app_groups = [g for g in ("app", "security") if g in config.groups]
    if app_groups:
        for impl in impls:
            for layer in config.layers:
                progress(f"{' and '.join(app_groups)}: {impl.label} x {layer}")
                stack_config = StackConfig(
                    server=impl.stack_server, layer=layer, users=12, rooms=3, employees=6, terminals=3
                )
                with Stack(stack_config, out_dir / "stacks" / f"{impl.stack_server}-{layer}") as stack:
                    target = AppTarget(stack.http_url, stack.ws_url, stack.credentials(), timeout=5.0 * config.unit)
                    # The app checks first: the security checks log one user in through the form, which rehashes
                    # its password and ends that user's prepared session.
                    results = run_app_checks(target) if "app" in app_groups else []
                    if "security" in app_groups:
                        results += run_security_checks(target)
                records += [dataclasses.replace(r, layer=layer) for r in _check_records(results, impl, None)]

    if "layer" in config.groups:
        redis: RedisServer | None = None
        try:
            for layer in config.layers:
                spec = layer_spec(layer)
                if spec.needs_redis and redis is None:
                    redis = RedisServer(log_dir=logs).start()
                progress(f"layer: {layer}")
                layer_results = run_layer_checks(
                    spec.backend, spec.config(redis.url if redis else None), include_slow=config.include_slow, jobs=4
                )
                records += _layer_records(layer, layer_results)
        finally:
            if redis is not None:
                redis.stop()
    return records


def summarise(records: Sequence[Record]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = {}
    for r in records:
        table.setdefault(f"{r.group}: {r.cell}", Counter())[r.behaviour] += 1
    return {cell: dict(sorted(counts.items())) for cell, counts in sorted(table.items())}


def differences(records: Sequence[Record]) -> list[tuple[str, str, dict[str, str]]]:
    """(group, check id, {cell: behaviour}) for every check whose behaviour is not the same in all cells that ran it."""
    by_check: dict[tuple[str, str], dict[str, str]] = {}
    for r in records:
        by_check.setdefault((r.group, r.id), {})[r.cell] = r.behaviour
    return [(group, check, cells) for (group, check), cells in sorted(by_check.items()) if len(set(cells.values())) > 1]


def index_document(records: Sequence[Record], config: ConformConfig, argv: Sequence[str]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "fingerprint": collect_fingerprint(argv=list(argv)).to_dict(),
        "config": {
            "implementations": list(config.implementations),
            "layers": list(config.layers),
            "groups": list(config.groups),
            "target": config.target,
            "include_slow": config.include_slow,
        },
        "summary": summarise(records),
        "checks": [r.to_json() for r in records],
    }


_COLOURS = {
    "OK": "#d7f0d9",
    "NON-STRICT": "#fff3c4",
    "INFORMATIONAL": "#e3ecf7",
    "UNIMPLEMENTED": "#eeeeee",
    "N/A": "#f7f7f7",
    "FAILED": "#f6c6c6",
    "KNOWN DEVIATION": "#f4dcc2",
}


def _cell(value: str) -> str:
    return f'<td style="background:{_COLOURS.get(value, "#fff")}">{html.escape(value)}</td>'


def render_report(document: dict[str, Any]) -> str:
    checks = document["checks"]
    records = [Record(**{k: v for k, v in c.items()}) for c in checks]
    verdicts = sorted({r.behaviour for r in records})
    rows = "".join(
        f"<tr><td>{html.escape(cell)}</td>" + "".join(f"<td>{counts.get(v, 0)}</td>" for v in verdicts) + "</tr>"
        for cell, counts in document["summary"].items()
    )
    diffs = differences(records)
    diff_cells = sorted({cell for _, _, cells in diffs for cell in cells})
    diff_rows = "".join(
        f"<tr><td>{html.escape(group)}</td><td>{html.escape(check)}</td>"
        + "".join(_cell(cells.get(c, "")) for c in diff_cells)
        + "</tr>"
        for group, check, cells in diffs
    )
    failures = "".join(
        f"<details><summary>{html.escape(r.group)} {html.escape(r.id)} — {html.escape(r.cell)}: "
        f"{html.escape(r.behaviour)}{' (known deviation)' if r.known_deviation else ''}</summary>"
        f"<p>{html.escape(r.source)}</p><p>{html.escape('; '.join(r.notes))}</p>"
        + (f"<p>Upstream: {html.escape(r.known_deviation)}</p>" if r.known_deviation else "")
        + (f"<pre>{html.escape(chr(10).join(r.wire_log))}</pre>" if r.wire_log else "")
        + "</details>"
        for r in records
        if r.behaviour in FAILING or r.known_deviation
    )
    failing = sum(1 for r in records if r.fails_run)
    verdict = (
        f'<p class="bad">FAILED: {failing} check(s) failed that are not known deviations</p>'
        if failing
        else '<p class="good">No unexpected failures</p>'
    )
    fp = document["fingerprint"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>channels-harness conformance</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}
td,th{{border:1px solid #ccc;padding:.2rem .5rem;font-size:.85rem;text-align:left}} th{{background:#f2f2f2}}
.bad{{background:#b00020;color:#fff;padding:.6rem;font-weight:bold}} .good{{background:#d7f0d9;padding:.6rem}}
details{{margin:.3rem 0}} pre{{background:#f7f7f7;padding:.5rem;overflow-x:auto;font-size:.75rem}}
</style></head><body>
<h1>Conformance report</h1>
<p>{html.escape(document["created"])} · {html.escape(str(fp.get("cpu_model", "")))} · commit
{html.escape(str(fp.get("git_commit", "")))} · {len(records)} check runs</p>
{verdict}
<h2>Verdicts per group and cell</h2>
<table><tr><th>group: server/ws implementation x layer</th>{"".join(f"<th>{html.escape(v)}</th>" for v in verdicts)}
</tr>
{rows}</table>
<h2>Where cells differ ({len(diffs)} checks)</h2>
<table><tr><th>group</th><th>check</th>{"".join(f"<th>{html.escape(c)}</th>" for c in diff_cells)}</tr>
{diff_rows}</table>
<h2>Failures and known deviations</h2>
{failures or "<p>None.</p>"}
</body></html>
"""


def render_junit(document: dict[str, Any]) -> bytes:
    suites = ET.Element("testsuites", name="channels-harness conformance")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for check in document["checks"]:
        cell = f"{check['group']}.{check['server']}.{check['ws_impl']}.{check['layer']}"
        grouped.setdefault(cell, []).append(check)
    for name, checks in sorted(grouped.items()):
        failures = [c for c in checks if c["behaviour"] in FAILING and not c["known_deviation"]]
        skipped = [c for c in checks if c["behaviour"] in {"N/A", "UNIMPLEMENTED"} or c["known_deviation"]]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=name,
            tests=str(len(checks)),
            failures=str(len(failures)),
            skipped=str(len(skipped)),
            time=f"{sum(c['duration_s'] for c in checks):.3f}",
        )
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=name, name=check["id"], time=f"{check['duration_s']:.4f}")
            if check in failures:
                failure = ET.SubElement(case, "failure", message=f"{check['behaviour']}: {check['source']}")
                failure.text = "\n".join([*check["notes"], *check["wire_log"]])
            elif check in skipped:
                reason = (
                    f"known deviation: {check['known_deviation']}" if check["known_deviation"] else check["behaviour"]
                )
                ET.SubElement(case, "skipped", message=reason)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def write_outputs(
    records: Sequence[Record], config: ConformConfig, out_dir: Path, argv: Sequence[str]
) -> dict[str, Any]:
    document = index_document(records, config, argv)
    (out_dir / "index.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    (out_dir / "report.html").write_text(render_report(document))
    (out_dir / "junit.xml").write_bytes(render_junit(document))
    return document
