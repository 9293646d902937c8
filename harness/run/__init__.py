"""``harness run``: one scenario over its matrix of cells, each on a fresh stack with the Locust generator (or the EKS
path for timeclock), ending in result.json, report.html and the .hgrm files."""

from __future__ import annotations

from harness.run.plan import Cell, UnsupportedScenario, plan_cells
from harness.run.runner import RunOutcome, run_scenario

__all__ = ["Cell", "RunOutcome", "UnsupportedScenario", "plan_cells", "run_scenario"]
