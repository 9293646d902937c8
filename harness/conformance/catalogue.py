"""The whole wire group: Autobahn's 517 cases followed by our handshake, limit and keepalive checks."""

from __future__ import annotations

from harness.conformance.catalogue_autobahn import autobahn_cases
from harness.conformance.catalogue_extra import handshake_cases, keepalive_cases, limit_cases
from harness.conformance.model import Case, KnownDeviation

__all__ = ["wire_cases", "wire_deviations"]


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


def wire_deviations(server: str) -> tuple[KnownDeviation, ...]:
    """Known wire deviations of a server (a ``harness.stack.servers.SERVERS`` name): failures still run and reported."""
    if server != "daphne":
        return ()
    return (
        KnownDeviation(
            frozenset({"1.1.1", "1.2.1", "6.1.1", "6.1.2", "9.7.1", "9.8.1"}),
            "https://github.com/django/daphne/blob/main/daphne/ws_protocol.py",
            "Daphne sends an app's text or bytes only when the value is truthy, so empty messages are never sent "
            "(handle_reply); no upstream issue was found, the link is the source",
        ),
        KnownDeviation(
            frozenset(case.id for case in autobahn_cases() if case.id.startswith("13.")),
            "https://github.com/crossbario/autobahn-python/issues/1018",
            "autobahn refuses max_window_bits=8 (zlib cannot compress with a 256-byte window) and Daphne answers "
            "such a permessage-deflate offer with HTTP 400 instead of declining the extension",
        ),
    )
