"""How results name cells and print durations for people: shared by verdict sentences, reports and the progress line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cell_label", "format_ms"]


def format_ms(value_us: float) -> str:
    """Format microseconds as milliseconds with about three significant digits, without the unit."""
    ms = value_us / 1000.0
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def cell_label(cell: Mapping[str, Any]) -> str:
    """Name a cell for people: ``daphne+redis, 2 workers``."""
    workers = int(cell.get("workers", 1))
    return f"{cell.get('server', '?')}+{cell.get('layer', '?')}, {workers} worker{'' if workers == 1 else 's'}"
