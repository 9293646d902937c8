"""Bundled capacity plans: several searches that together answer one question users ask (``--plan``).

One registry, :data:`PLANS`. A plan names its parts; each part is one search (a bundled scenario and the
dimension grown in it) on the same stack, with the same objectives. :func:`plan_answer` turns the finished
searches into the plan's answer: one sentence and one row per part, with the CPU the generator and the servers
used at each capacity found, because on this machine they share 2 cores (docs/capacity.md, "The terminal
question").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.results.format import busiest_process

__all__ = ["PLANS", "CapacityPlan", "PlanPart", "figures_at_capacity", "plan_answer", "plan_named"]


@dataclass(frozen=True, slots=True)
class PlanPart:
    """One search of a plan.

    Attributes:
        name: the part's name in the answer and its directory (``readers``, ``sockets``).
        scenario: the bundled scenario searched.
        dimension: the dimension grown.
        what: what the load is, for the sentence (``EKS readers``).
        how: how each unit of it behaves, for the table (``0.67 badge events/s each``).
        processes: Locust worker processes unless ``--processes`` is given (0: one local runner).
    """

    name: str
    scenario: str
    dimension: str
    what: str
    how: str
    processes: int = 0


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """A bundled plan: its parts and the objectives used when no ``--slo`` is given."""

    name: str
    description: str
    parts: tuple[PlanPart, ...]
    default_slos: tuple[str, ...]


#: The one table of bundled plans.
PLANS: Final[Mapping[str, CapacityPlan]] = {
    "terminals": CapacityPlan(
        "terminals",
        "how many EKS readers (a shift change through emulator, gateway, worker and kiosk) and how many kiosk or "
        "chat sockets (held open, one message a minute each) one deployment holds",
        (
            PlanPart(
                "readers",
                "timeclock-shift-change",
                "readers",
                "EKS readers",
                "each badging 0.67 times a second (a shift change), every punch stored and shown on its kiosk",
            ),
            PlanPart(
                "sockets",
                "idle-sockets",
                "connections",
                "kiosk/chat sockets",
                "held open in rooms of 10, each sending one message a minute",
                # Thousands of sockets in one Locust process made it fall behind its schedule (send lag) before
                # the servers fell behind: measured on uvicorn with redis and redis-pubsub, 2 workers.
                processes=2,
            ),
        ),
        ("p99<250ms", "loss<=0"),
    ),
}


def plan_named(name: str) -> CapacityPlan:
    """The plan ``name``; raises ValueError listing the known plans."""
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"--plan {name!r}: unknown; expected one of {', '.join(PLANS)}") from None


def figures_at_capacity(search: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The figures of the last passing trial at the load found (the confirmation's, when it passed)."""
    last = search["bracket"]["last_pass"]
    passed = [t for t in search["trials"] if t["load"] == last and t["pass"]]
    return passed[-1]["figures"] if passed else None


def _amount(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def plan_answer(plan: CapacityPlan, searches: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``plan_answer`` object of capacity.json: the sentence, and one row per part."""
    rows = []
    for part, search in zip(plan.parts, searches, strict=True):
        figures = figures_at_capacity(search)
        rows.append(
            {
                "part": part.name,
                "scenario": search["scenario"]["name"],
                "dimension": part.dimension,
                "what": part.what,
                "how": part.how,
                "outcome": search["outcome"],
                "last_pass": search["bracket"]["last_pass"],
                "first_fail": search["bracket"]["first_fail"],
                "unit": search["bracket"]["unit"],
                "first_fail_checks": [c["name"] for c in search["first_fail_checks"]],
                "server_cpu_percent": None if figures is None else figures["server_cpu_percent"],
                "generator_cpu_percent": None if figures is None else figures["generator_cpu_total_percent"],
                "busiest_process": busiest_process(figures),
            }
        )
    where = searches[0]["where"]
    slos = ", ".join(searches[0]["slos"])
    held = []
    for row in rows:
        amount = _amount(row["last_pass"])
        if row["outcome"] == "holds_at_maximum":
            held.append(f"at least {amount} {row['what']} (the search's maximum)")
        elif row["outcome"] == "found":
            failed = "; ".join(row["first_fail_checks"]) or "-"
            held.append(f"{amount} {row['what']} (fails at {_amount(row['first_fail'])}: {failed})")
        elif row["outcome"] == "fails_at_minimum":
            held.append(f"no {row['what']} (fails already at {_amount(row['first_fail'])}, the search's minimum)")
        else:
            bracket = f"[{amount}, {_amount(row['first_fail'])}]"
            held.append(f"an unconfirmed number of {row['what']} (last bracket {bracket})")
    shares = [
        f"{row['generator_cpu_percent']:.0f} % of a core at the {row['part']} found"
        for row in rows
        if row["generator_cpu_percent"] is not None
    ]
    sentence = f"{where} holds {' and '.join(held)} at {slos}"
    if shares:
        sentence += "; the generator, on the same 2 cores, used " + " and ".join(shares)
    return {"plan": plan.name, "sentence": sentence, "parts": rows}
