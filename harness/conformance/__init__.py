"""Conformance checks for WebSocket servers; the ``wire`` group covers RFC 6455 and RFC 7692."""

from __future__ import annotations

from harness.conformance.catalogue import wire_cases
from harness.conformance.model import Behaviour, Case, CheckResult, CloseVerdict, KnownDeviation
from harness.conformance.runner import run_wire_checks

__all__ = [
    "Behaviour",
    "Case",
    "CheckResult",
    "CloseVerdict",
    "KnownDeviation",
    "run_wire_checks",
    "wire_cases",
]
