"""``harness run``: one scenario over its matrix of server x layer x workers cells, or against a given ``--target``.

Each cell gets a fresh stack (through the same machinery as ``harness serve``), the Locust generator in its own
processes, and a resource sampler on the server side. The cell's measurements become one entry of ``result.json``;
the run ends with ``report.html``, ``.hgrm`` files and ``reports/latest``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.measure.fingerprint import collect_fingerprint
from harness.report.files import RunFiles, check_run_dir, write_run
from harness.report.progress import ProgressLine
from harness.results import (
    build_result,
    default_out_dir,
)
from harness.results.model import ResultDoc
from harness.results.slo import exit_code
from harness.run.cell import run_locust_cell
from harness.run.plan import GENERATOR_KIND, TIMECLOCK, CellRun, GeneratorTarget, UnsupportedScenario, plan_cells
from harness.run.timeclock import run_timeclock_cell
from harness.scenario import Scenario
from harness.stack.layers import layer_settings, layer_spec
from harness.stack.redis import find_redis_server

__all__ = ["RunOutcome", "run_scenario"]


@dataclass(frozen=True)
class RunOutcome:
    document: ResultDoc
    files: RunFiles
    exit_code: int


def run_scenario(
    scenario: Scenario,
    *,
    target: str | None = None,
    credentials: Path | None = None,
    out_dir: Path | None = None,
    processes: int = 0,
    argv: Sequence[str] | None = None,
    stream: Any = None,
) -> RunOutcome:
    if scenario.kind not in GENERATOR_KIND and scenario.kind != TIMECLOCK:
        raise UnsupportedScenario(
            f"scenario {scenario.name!r} is of kind {scenario.kind!r}, which harness run cannot drive"
        )
    cells = plan_cells(scenario, target)
    out = out_dir or default_out_dir(scenario.name)
    check_run_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    progress = ProgressLine(stream if stream is not None else sys.stderr)
    load = GeneratorTarget(target, credentials, processes, run_id)
    try:
        inputs = []
        for i, cell in enumerate(cells, start=1):
            run = CellRun(scenario, cell, i, len(cells), out, progress)
            inputs.append(run_timeclock_cell(run) if scenario.kind == TIMECLOCK else run_locust_cell(run, load))
    finally:
        progress.close()
    redis_bin = None
    if target is None and any(layer_spec(cell.layer).needs_redis for cell in cells):
        redis_bin = find_redis_server().path
    document = build_result(
        run_id=run_id,
        fingerprint=collect_fingerprint(
            redis_server_bin=redis_bin,
            seed=scenario.seed,
            argv=list(argv or sys.argv),
            layer_settings={} if target is not None else {c.layer: layer_settings(c.layer) for c in cells},
        ),
        config={"scenario": scenario.to_dict(), "target": target, "generator_processes": processes},
        cells=inputs,
        slos=scenario.slos,
    )
    files = write_run(document, out)
    return RunOutcome(document, files, exit_code(document))
