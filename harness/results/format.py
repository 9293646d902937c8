"""How results name cells and print durations for people: shared by verdict sentences, reports and the progress line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cell_label", "foreign_sentence", "format_ms"]


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


def foreign_sentence(cell: Mapping[str, Any]) -> str | None:
    """Why messages were received but not counted, in plain words with a remedy; None when every one was ours."""
    foreign = {reason: int(n) for reason, n in cell.get("foreign_messages", {}).items() if n}
    if not foreign:
        return None
    total = sum(foreign.values())
    kinds = ", ".join(f"{reason} {n:,}" for reason, n in sorted(foreign.items()))
    return (
        f"{total:,} received messages were not the harness's envelopes ({kinds}), so they count as neither "
        "delivered nor timed: the server did not return the payload as sent (an app that rebuilds JSON with only the "
        "fields it knows drops the envelope). The echo and broadcast kinds need each message back with every key "
        "it was sent with: the envelope is the whole message."
    )
