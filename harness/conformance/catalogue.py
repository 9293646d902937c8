"""The whole wire group: Autobahn's 517 cases followed by our handshake, limit and keepalive checks."""

from __future__ import annotations

from harness.conformance.catalogue_autobahn import autobahn_cases
from harness.conformance.catalogue_extra import handshake_cases, keepalive_cases, limit_cases
from harness.conformance.model import Case

__all__ = ["wire_cases"]


def wire_cases(*, max_message_size: int | None = None) -> list[Case]:
    """Every wire case in run order; ``max_message_size`` adds the limit-boundary checks for that limit."""
    cases = autobahn_cases()
    cases.extend(handshake_cases())
    cases.extend(limit_cases(max_message_size))
    cases.extend(keepalive_cases())
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):
        raise RuntimeError("duplicate case ids in the wire catalogue")
    return cases
