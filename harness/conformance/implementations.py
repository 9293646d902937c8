"""The server implementations ``harness conform`` runs, taken from ``harness.stack.servers.SERVERS``.

Kept apart from ``matrix`` so that the command line can build its choices without importing every check.
"""

from __future__ import annotations

from collections.abc import Collection

from harness.stack.servers import SERVERS, ServerSpec

__all__ = ["IMPLEMENTATIONS", "label", "select_implementations", "server_choices", "ws_impl_choices"]


def label(spec: ServerSpec) -> str:
    """How outputs name a server implementation: program and WebSocket implementation ("uvicorn/wsproto")."""
    return f"{spec.program}/{spec.ws_impl}"


#: The SERVERS entries that name their WebSocket implementation, by label. Plain "uvicorn" picks one at start-up, so
#: its results could not say which implementation they are about.
IMPLEMENTATIONS: dict[str, ServerSpec] = {label(spec): spec for spec in SERVERS.values() if spec.ws_impl is not None}


def server_choices() -> list[str]:
    return sorted({spec.program for spec in IMPLEMENTATIONS.values()})


def _with_choice() -> set[str]:
    # Only a program that comes with several implementations lets --ws-impl choose; Daphne always runs autobahn.
    programs = [spec.program for spec in IMPLEMENTATIONS.values()]
    return {p for p in programs if programs.count(p) > 1}


def ws_impl_choices() -> list[str]:
    return sorted({str(s.ws_impl) for s in IMPLEMENTATIONS.values() if s.program in _with_choice()})


def select_implementations(servers: Collection[str] | None, ws_impls: Collection[str] | None) -> tuple[str, ...]:
    """Labels of the implementations of ``servers`` (programs; None: all), narrowed to ``ws_impls`` where it applies."""
    choosing = _with_choice()
    return tuple(
        name
        for name, spec in IMPLEMENTATIONS.items()
        if (not servers or spec.program in servers)
        and (not ws_impls or spec.program not in choosing or spec.ws_impl in ws_impls)
    )
