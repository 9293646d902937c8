"""``LayerCheckTable``: the checks of one category, each registered by a decorator on the function that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from harness.conformance.layers.model import LayerCheck, Outcome
from harness.conformance.layers.target import CheckContext

__all__ = ["CheckFn", "LayerCheckTable"]

CheckFn = Callable[[CheckContext], Awaitable[Outcome]]


class LayerCheckTable:
    """The checks of one category, in the order they are registered (which is their run order)."""

    def __init__(self, category: str) -> None:
        self.category = category
        self.checks: list[LayerCheck] = []

    def check(
        self,
        id: str,
        title: str,
        *,
        quote: str,
        source: str,
        requires: tuple[str, ...] = (),
        slow: bool = False,
        timeout_s: float = 20.0,
    ) -> Callable[[CheckFn], CheckFn]:
        """Register the decorated function as check ``id``, quoting ``quote`` from the spec section ``source``."""

        def register(run: CheckFn) -> CheckFn:
            self.checks.append(
                LayerCheck(
                    id=id,
                    category=self.category,
                    title=title,
                    spec_quote=quote,
                    source=source,
                    run=run,
                    requires=requires,
                    slow=slow,
                    timeout_s=timeout_s,
                )
            )
            return run

        return register
