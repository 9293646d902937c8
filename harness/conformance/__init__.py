"""Conformance checks, one group per spec: ``wire`` (RFC 6455/7692), ``asgi`` (ASGI 2.5), ``layer`` (``layers/``, the
Channel Layer Specification), ``security`` and ``app`` (the reference app), and ``matrix`` which runs them for
``harness conform``.

The names re-exported here are the wire group's, the one most callers drive on its own.
"""

from __future__ import annotations

from harness.conformance.catalogue import wire_cases
from harness.conformance.model import Case, CheckResult, CloseVerdict, KnownDeviation, Verdict
from harness.conformance.runner import run_wire_checks

__all__ = [
    "Verdict",
    "Case",
    "CheckResult",
    "CloseVerdict",
    "KnownDeviation",
    "run_wire_checks",
    "wire_cases",
]
