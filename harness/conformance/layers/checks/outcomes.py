"""What a check returns: an ``Outcome`` per verdict, with the detail that explains it."""

from __future__ import annotations

from harness.conformance.layers.model import Outcome
from harness.conformance.model import Verdict

__all__ = ["failed", "info", "non_strict", "not_applicable", "ok", "unimplemented"]


def ok(detail: str = "") -> Outcome:
    return Outcome(Verdict.OK, detail)


def failed(detail: str) -> Outcome:
    return Outcome(Verdict.FAILED, detail)


def non_strict(detail: str) -> Outcome:
    return Outcome(Verdict.NON_STRICT, detail)


def info(detail: str) -> Outcome:
    return Outcome(Verdict.INFORMATIONAL, detail)


def not_applicable(detail: str) -> Outcome:
    return Outcome(Verdict.NOT_APPLICABLE, detail)


def unimplemented(detail: str) -> Outcome:
    return Outcome(Verdict.UNIMPLEMENTED, detail)
