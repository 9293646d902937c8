"""The verdicts and known deviations every conformance group shares, and the data of the wire group (cases, their
steps and expectations, results).

Verdicts follow Autobahn|Testsuite's vocabulary (``case/case.py``): a *behaviour* verdict for what the server
did with the traffic and a *close* verdict for how the connection ended. We add N/A and KNOWN DEVIATION.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.conformance.frames import LengthForm

__all__ = [
    "Case",
    "CheckResult",
    "CloseExpect",
    "CloseVerdict",
    "DeflateOffer",
    "EchoRounds",
    "Expect",
    "HandshakeProbe",
    "KnownDeviation",
    "Observation",
    "SendBatch",
    "SendFrame",
    "SendMessage",
    "SendRaw",
    "Sleep",
    "Step",
    "Verdict",
    "WaitServerPing",
    "apply_deviation",
    "apply_deviations",
    "check_catalogue_order",
    "deviation_for",
]


class Verdict(enum.StrEnum):
    """The behaviour verdict of every group: what index.json, the report, JUnit and the group CLIs print."""

    OK = "OK"
    NON_STRICT = "NON-STRICT"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    FAILED = "FAILED"
    NOT_APPLICABLE = "N/A"
    KNOWN_DEVIATION = "KNOWN DEVIATION"


class CloseVerdict(enum.StrEnum):
    OK = "OK"
    WRONG_CODE = "WRONG CODE"
    UNCLEAN = "UNCLEAN"
    FAILED_BY_CLIENT = "FAILED BY CLIENT"
    FAILED = "FAILED"
    INFORMATIONAL = "INFORMATIONAL"
    NOT_APPLICABLE = "N/A"


@dataclass(frozen=True)
class Observation:
    """One thing the client saw: a whole text/binary message, a pong, or the summary of an echo-rounds
    step."""

    kind: Literal["text", "binary", "pong", "rounds"]
    payload: bytes = b""

    def __str__(self) -> str:
        shown = self.payload if len(self.payload) <= 40 else self.payload[:32] + b"..."
        return f"{self.kind}({len(self.payload)}B {shown!r})"


@dataclass(frozen=True)
class SendFrame:
    """Write one frame, possibly illegal, with our own writer; ``chop`` splits its bytes into separate
    writes."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    length_form: LengthForm = LengthForm.MINIMAL
    chop: int | None = None
    masked: bool = True


@dataclass(frozen=True)
class SendBatch:
    """Write several frames in one write call, as Autobahn does when a case queues frames without "sync"."""

    frames: tuple[SendFrame, ...]
    chop: int | None = None


@dataclass(frozen=True)
class SendMessage:
    """Write a whole data message, split into frames of ``fragment_size`` bytes (auto-fragmentation)."""

    opcode: int
    payload: bytes
    fragment_size: int | None = None
    chop: int | None = None


@dataclass(frozen=True)
class SendRaw:
    """Write bytes as they are (headers cut mid-frame, bytes split across pauses)."""

    data: bytes
    chop: int | None = None


@dataclass(frozen=True)
class Sleep:
    """Pause for ``units`` of the run's time unit (Autobahn's 1 s pauses are 1 unit at the default unit)."""

    units: float


@dataclass(frozen=True)
class EchoRounds:
    """Send ``count`` messages one at a time, each after the echo of the previous one arrived and matched.

    Used by the round-trip (9.7/9.8) and permessage-deflate (12.x/13.x) cases; it yields one ``rounds``
    observation whose payload is the number of matched echoes, so a case expects ``str(count)``.
    """

    count: int
    size: int
    binary: bool
    dataset: str = "ascii"
    fragment_size: int | None = None


@dataclass(frozen=True)
class WaitServerPing:
    """Wait up to ``units`` for the server to send a ping (keepalive checks)."""

    units: float


Step = SendFrame | SendBatch | SendMessage | SendRaw | Sleep | EchoRounds | WaitServerPing


@dataclass(frozen=True)
class CloseExpect:
    """Autobahn's ``expectedClose``: who starts closing, the acceptable remote codes, whether it must be
    clean."""

    closed_by_client: bool
    codes: tuple[int, ...] = (1000,)
    require_clean: bool = True


@dataclass(frozen=True)
class Expect:
    """What a conforming server does.

    ``ok`` is the exact list of observations for OK; each entry of ``non_strict`` is an alternative list that
    rates NON-STRICT. ``fail_fast_step``: the server must fail before the step with this index is written,
    else NON-STRICT (the 6.4.x fail-fast cases). ``wrong_code_fails`` turns a WRONG CODE close into a FAILED
    behaviour (the 7.7/7.9 close-code cases, where the code *is* the behaviour under test).
    """

    ok: tuple[Observation, ...]
    close: CloseExpect
    non_strict: tuple[tuple[Observation, ...], ...] = ()
    informational: bool = False
    fail_fast_step: int | None = None
    wrong_code_fails: bool = False


@dataclass(frozen=True)
class HandshakeProbe:
    """A raw HTTP opening handshake (RFC 6455 §4) instead of the normal one.

    ``expect`` is "accept" (101 with a correct Sec-WebSocket-Accept), "reject" (an HTTP error; ``statuses``
    are the codes rated OK, empty meaning any 4xx, and another 4xx is NON-STRICT) or "timeout" (the server
    should close a stalled handshake within the case timeout, else NON-STRICT). ``required_headers`` must be
    present (lower-case name, value) for OK. ``lenient_upgrade`` rates a 101 NON-STRICT instead of FAILED, for
    requests the RFC describes as a client error that a server may tolerate (HTTP/1.0, POST).
    """

    request: bytes
    expect: Literal["accept", "reject", "timeout"]
    statuses: tuple[int, ...] = (400,)
    required_headers: tuple[tuple[str, str], ...] = ()
    lenient_upgrade: bool = False


@dataclass(frozen=True)
class DeflateOffer:
    """One permessage-deflate offer (RFC 7692 §7.1): ``None`` window bits means the parameter is not sent."""

    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None
    #: Offer ``client_max_window_bits`` with no value, telling the server it may pick one.
    client_max_window_bits_empty: bool = True

    def header_value(self) -> str:
        parts = ["permessage-deflate"]
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is not None:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        elif self.client_max_window_bits_empty:
            parts.append("client_max_window_bits")
        return "; ".join(parts)


@dataclass(frozen=True)
class Case:
    """One wire check: an Autobahn case re-driven from Python 3, or one of our handshake/limit/keepalive
    checks."""

    id: str
    category: str
    source: str
    description: str
    expectation: str
    steps: tuple[Step, ...] = ()
    expect: Expect | None = None
    handshake: HandshakeProbe | None = None
    deflate_offers: tuple[DeflateOffer, ...] = ()
    slow: bool = False
    #: Seconds-free budget: the case timeout is ``timeout_units`` times the run's unit.
    timeout_units: float = 10.0
    answer_pings: bool = True
    group: str = "wire"


@dataclass(frozen=True)
class KnownDeviation:
    """An expected FAILED for the checks ``check_ids`` of one implementation, still run and reported.

    Deviations are data: a group keeps a table of them per implementation (server or layer BACKEND) and never
    branches on an implementation's name in a check.
    """

    check_ids: frozenset[str]
    #: Upstream issue, pull request or, when no issue exists, the source that shows the behaviour.
    link: str
    summary: str


def deviation_for(check_id: str, deviations: Iterable[KnownDeviation]) -> KnownDeviation | None:
    return next((d for d in deviations if check_id in d.check_ids), None)


def apply_deviation(verdict: Verdict, deviation: KnownDeviation | None) -> tuple[Verdict, str | None]:
    """The verdict once a listed deviation is taken into account, and the note that says what it did.

    Only FAILED becomes KNOWN DEVIATION; any other verdict stays, noted, so a fixed upstream shows up.
    """
    if deviation is None:
        return verdict, None
    if verdict is Verdict.FAILED:
        return Verdict.KNOWN_DEVIATION, f"known deviation: {deviation.summary} ({deviation.link})"
    return verdict, f"listed as a known deviation ({deviation.link}) but did not fail"


@dataclass
class CheckResult:
    """The outcome of one case against one server, shaped after Autobahn's per-case report."""

    id: str
    group: str
    category: str
    source: str
    behaviour: Verdict
    behaviour_close: CloseVerdict
    remote_close_code: int | None
    duration_s: float
    wire_log: Sequence[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    known_deviation: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "group": self.group,
            "category": self.category,
            "source": self.source,
            "behaviour": self.behaviour.value,
            "behaviour_close": self.behaviour_close.value,
            "remote_close_code": self.remote_close_code,
            "duration_s": round(self.duration_s, 4),
            "wire_log": list(self.wire_log),
            "notes": self.notes,
            "known_deviation": self.known_deviation,
        }


def apply_deviations(results: Iterable[CheckResult], deviations: Sequence[KnownDeviation]) -> None:
    """Relabel, in place, the results that a listed deviation explains (see ``apply_deviation``)."""
    for res in results:
        deviation = deviation_for(res.id, deviations)
        res.behaviour, note = apply_deviation(res.behaviour, deviation)
        if note is not None:
            res.notes.append(note)
        if deviation is not None and res.behaviour is Verdict.KNOWN_DEVIATION:
            res.known_deviation = deviation.link


def _id_key(check_id: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", check_id))


def check_catalogue_order(ids: Sequence[str], group: str) -> None:
    """Raise unless ``ids`` are distinct and in numeric order ("C1.2" before "C1.10").

    Catalogues built from registrations run in registration order; this keeps that order the ids' own.
    """
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"duplicate check ids in the {group} catalogue")
    misplaced = [b for a, b in zip(ids, ids[1:], strict=False) if _id_key(a) > _id_key(b)]
    if misplaced:
        raise RuntimeError(f"{group} checks registered out of id order: {misplaced}")
