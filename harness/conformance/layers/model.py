"""Record types of the channel-layer conformance checks; the verdicts are the ones every group shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from harness.conformance.model import Verdict

if TYPE_CHECKING:
    from harness.conformance.layers.target import CheckContext

__all__ = ["LayerCheck", "LayerCheckResult", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    detail: str = ""


@dataclass(frozen=True)
class LayerCheck:
    id: str
    category: str
    title: str
    #: The sentence of the Channel Layer Specification the check tests, quoted exactly.
    spec_quote: str
    #: Section of docs/channel_layer_spec.rst the quote comes from.
    source: str
    run: Callable[[CheckContext], Awaitable[Outcome]]
    group: str = "layer"
    #: Extensions (from the layer's ``extensions``) the check needs; missing ones make it UNIMPLEMENTED.
    requires: tuple[str, ...] = ()
    #: Long-running checks only run with include_slow.
    slow: bool = False
    timeout_s: float = 20.0


@dataclass
class LayerCheckResult:
    id: str
    category: str
    title: str
    spec_quote: str
    backend: str
    verdict: Verdict
    detail: str
    duration_s: float
    group: str = "layer"
    link: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data
