"""Run the catalogue against one BACKEND and CONFIG, and render the results."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.conformance.blocking import blocking
from harness.conformance.layers.checks import CHECKS
from harness.conformance.layers.deviations import KNOWN_DEVIATIONS
from harness.conformance.layers.model import LayerCheck, LayerCheckResult, Outcome
from harness.conformance.layers.target import CheckContext, ConfigRejected, LayerTarget, ensure_django_settings
from harness.conformance.model import Verdict, apply_deviation, deviation_for

__all__ = ["format_table", "run_layer_checks", "run_layer_checks_async", "select_checks", "unexpected_failures"]


def select_checks(*, include_slow: bool = False, only: Sequence[str] | None = None) -> list[LayerCheck]:
    if only is not None:
        wanted = set(only)
        unknown = wanted - {c.id for c in CHECKS}
        if unknown:
            raise KeyError(f"unknown layer check ids: {sorted(unknown)}")
        return [c for c in CHECKS if c.id in wanted]
    return [c for c in CHECKS if include_slow or not c.slow]


async def _extensions(target: LayerTarget) -> list[str]:
    ctx = CheckContext(target, "probe")
    try:
        return [str(e) for e in (getattr(ctx.layer(), "extensions", None) or [])]
    finally:
        await ctx.cleanup()


async def _run_one(target: LayerTarget, check: LayerCheck, extensions: list[str]) -> LayerCheckResult:
    start = time.monotonic()
    missing = [e for e in check.requires if e not in extensions]
    if missing:
        outcome = Outcome(Verdict.UNIMPLEMENTED, f"extension(s) {missing} not in layer.extensions={extensions}")
    else:
        ctx = CheckContext(target, check.id)
        try:
            outcome = await asyncio.wait_for(check.run(ctx), check.timeout_s)
        except ConfigRejected as exc:
            outcome = Outcome(Verdict.UNIMPLEMENTED, f"the constructor refused the check's configuration: {exc}")
        except TimeoutError:
            outcome = Outcome(Verdict.FAILED, f"the check did not finish within {check.timeout_s}s")
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            outcome = Outcome(
                Verdict.FAILED,
                f"raised {type(exc).__name__}: {exc} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})",
            )
        finally:
            await ctx.cleanup()
    deviation = deviation_for(check.id, KNOWN_DEVIATIONS.get(target.backend, ()))
    verdict, note = apply_deviation(outcome.verdict, deviation)
    return LayerCheckResult(
        id=check.id,
        category=check.category,
        title=check.title,
        spec_quote=check.spec_quote,
        backend=target.backend,
        verdict=verdict,
        detail=f"{outcome.detail} — {note}" if note and outcome.detail else note or outcome.detail,
        duration_s=round(time.monotonic() - start, 3),
        group=check.group,
        link=deviation.link if deviation else None,
    )


async def run_layer_checks_async(
    backend: str,
    config: dict[str, Any],
    *,
    include_slow: bool = False,
    only: Sequence[str] | None = None,
    process_local: bool | None = None,
    jobs: int = 1,
) -> list[LayerCheckResult]:
    """Run the selected checks, each on fresh layer instances, ``jobs`` of them at a time.

    ``run_layer_checks`` takes the same arguments and runs this in an event loop of its own.
    """
    ensure_django_settings()
    checks = select_checks(include_slow=include_slow, only=only)
    target = LayerTarget(backend, dict(config), process_local)
    extensions = await _extensions(target)
    # Checks never share names or instances, so they may overlap; most of the expiry checks' time is sleeping.
    gate = asyncio.Semaphore(max(1, jobs))

    async def gated(check: LayerCheck) -> LayerCheckResult:
        async with gate:
            return await _run_one(target, check, extensions)

    return list(await asyncio.gather(*(gated(c) for c in checks)))


run_layer_checks = blocking(run_layer_checks_async)


def unexpected_failures(results: Sequence[LayerCheckResult]) -> list[LayerCheckResult]:
    return [r for r in results if r.verdict is Verdict.FAILED]


def format_table(results: Sequence[LayerCheckResult]) -> str:
    lines = [f"{'id':<6} {'category':<9} {'verdict':<15} {'s':>5}  title — detail"]
    for r in results:
        lines.append(f"{r.id:<6} {r.category:<9} {r.verdict.value:<15} {r.duration_s:>5.1f}  {r.title} — {r.detail}")
        if r.link:
            lines.append(f"{'':<38}  see {r.link}")
    counts = Counter(r.verdict.value for r in results)
    lines.append("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)
