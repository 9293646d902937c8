"""Per server name: the ASGI failures that are known upstream, reported as KNOWN DEVIATION."""

from __future__ import annotations

from harness.conformance.model import KnownDeviation

__all__ = ["KNOWN_DEVIATIONS"]

_DAPHNE_SRC = "https://github.com/django/daphne/blob/main/daphne/ws_protocol.py"

#: Per server name (as the tests and docs call them): failures that are known upstream, reported as KNOWN DEVIATION.
KNOWN_DEVIATIONS: dict[str, tuple[KnownDeviation, ...]] = {
    "daphne": (
        KnownDeviation(
            frozenset({"A2.2"}), "https://github.com/django/daphne/issues/326", "accept headers are ignored"
        ),
        KnownDeviation(
            frozenset({"A4.3", "A4.4"}),
            "https://github.com/django/daphne/issues/374",
            "the close reason is dropped: serverClose gets the code only",
        ),
        KnownDeviation(
            frozenset({"A1.11"}),
            _DAPHNE_SRC,
            "duplicate request headers arrive joined with ',' because autobahn keeps handshake headers in a dict"
            " (no upstream issue found)",
        ),
        KnownDeviation(
            frozenset({"A3.1", "A3.2"}),
            _DAPHNE_SRC,
            "handle_reply tests text/bytes for truthiness, so empty messages are never sent (no upstream issue found)",
        ),
    ),
    "uvicorn-sansio": (),
    "uvicorn-wsproto": (),
}
