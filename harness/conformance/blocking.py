"""``blocking``: the one way each group's async runner also becomes a plain call, so their signatures exist once."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["blocking"]

P = ParamSpec("P")
R = TypeVar("R")


def blocking(run_async: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """``run_async`` in a new event loop of its own, for callers that have none."""

    @functools.wraps(run_async)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(run_async(*args, **kwargs))

    return run
