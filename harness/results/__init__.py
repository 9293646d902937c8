"""The result document (result.json): its typed parts, schema, validation, SLO verdicts and files."""

from __future__ import annotations

from harness.results.document import (
    READABLE_VERSIONS,
    REPORTS_ROOT,
    SCHEMA_PATH,
    SCHEMA_VERSION,
    CellMeasurements,
    GeneratorHealth,
    GroupSizeLatency,
    JoinStormPhase,
    ResultValidationError,
    TimePoint,
    TimeSeries,
    build_cell,
    build_result,
    cell_slug,
    default_out_dir,
    validate_result,
)

__all__ = [
    "CellMeasurements",
    "GeneratorHealth",
    "GroupSizeLatency",
    "JoinStormPhase",
    "READABLE_VERSIONS",
    "REPORTS_ROOT",
    "ResultValidationError",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "TimePoint",
    "TimeSeries",
    "build_cell",
    "build_result",
    "cell_slug",
    "default_out_dir",
    "validate_result",
]
