"""The harness envelope: a compact JSON object carried in every load message.

Every message a load generator sends carries one envelope so that receivers can
(a) recognise the harness's own traffic, (b) account for delivery per
(sender, receiver) stream and (c) compute latencies from the timestamps.

Keys (short on purpose: they are in every message, and payload size is a test
parameter):

====  ===============  ===================================================
key   field            meaning
====  ===============  ===================================================
``h``  version         envelope format version, always ``1``
``r``  run_id          run identifier; messages of another run are foreign
``s``  sender          sender id, unique within the run
``q``  seq             per-sender sequence number, 0, 1, 2, ... (no gaps)
``i``  intended_ns     scheduled send time, ``time.monotonic_ns()`` clock
``a``  sent_ns         actual send time, ``time.monotonic_ns()`` clock
``p``  padding         optional filler string that brings the encoded
                       message to a target size; ignored by receivers
====  ===============  ===================================================

Clock caveat: ``monotonic_ns`` values are comparable only between processes
on the *same host* (Linux ``CLOCK_MONOTONIC`` is system-wide but starts at an
arbitrary point per boot). A receiver on another host must not subtract them
from its own clock; cross-host latency needs a wall clock (``time.time_ns``)
synchronised by PTP/NTP with a known skew bound, or a round trip measured back
on the sending host. :class:`~harness.measure.latency.LatencyRecorder` counts negative
differences, which is the usual symptom of mixing clocks.

Decoding never raises: a payload that is not a valid envelope yields a
:class:`Foreign` value whose ``reason`` receivers can count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

__all__ = [
    "ENVELOPE_VERSION",
    "Envelope",
    "Foreign",
    "ForeignReason",
    "decode_envelope",
    "encode_envelope",
]

ENVELOPE_VERSION: Final = 1

ForeignReason = Literal["not_json", "not_object", "missing_key", "bad_value", "bad_version", "other_run"]

# Cost of adding the padding member ``,"p":""`` to an encoded object.
_PAD_OVERHEAD: Final = len(b',"p":""')
_MAX_INT: Final = 2**63 - 1
_JSON_TYPE_NAMES: Final[dict[type, str]] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


# Not frozen: one is built per delivered message, and a frozen dataclass's __init__ (object.__setattr__ per
# field) costs three times as much. Nothing mutates or hashes one.
@dataclass(slots=True)
class Envelope:
    """One harness message header.

    Attributes:
        run_id: run identifier (non-empty).
        sender: sender id, unique within the run (non-empty).
        seq: per-sender sequence number, starting at 0 and increasing by 1.
        intended_ns: scheduled send time on the ``time.monotonic_ns`` clock.
        sent_ns: actual send time on the same clock.
    """

    run_id: str
    sender: str
    seq: int
    intended_ns: int
    sent_ns: int

    def to_dict(self) -> dict[str, Any]:
        """Return the envelope as its short-key dict, e.g. to nest in an app message."""
        return {
            "h": ENVELOPE_VERSION,
            "r": self.run_id,
            "s": self.sender,
            "q": self.seq,
            "i": self.intended_ns,
            "a": self.sent_ns,
        }


@dataclass(frozen=True, slots=True)
class Foreign:
    """Why a payload is not a harness envelope (returned, never raised).

    Attributes:
        reason: a stable category to count by.
        detail: a human-readable explanation for logs.
    """

    reason: ForeignReason
    detail: str


def encode_envelope(envelope: Envelope, *, pad_to: int | None = None) -> bytes:
    """Encode ``envelope`` as compact JSON bytes.

    Args:
        envelope: the envelope to encode.
        pad_to: target size of the encoded message in bytes. Padding is a run
            of ``"x"`` in key ``p``. The result is exactly ``pad_to`` bytes
            when ``pad_to`` is at least the unpadded size plus 7 (the cost of
            an empty ``,"p":""``); when it is smaller, no padding is added and
            the message is longer than requested.

    Raises:
        ValueError: if ``pad_to`` is negative.
    """
    body = orjson.dumps(envelope.to_dict())
    if pad_to is None:
        return body
    if pad_to < 0:
        raise ValueError(f"pad_to must be >= 0 bytes, got {pad_to}")
    fill = pad_to - len(body) - _PAD_OVERHEAD
    if fill < 0:
        return body
    # Splice the member before the closing brace instead of re-serialising:
    # "x" needs no escaping, so the size is known in advance.
    return body[:-1] + b',"p":"' + b"x" * fill + b'"}'


def _check_str(obj: Mapping[str, Any], key: str) -> str | Foreign:
    value = obj[key]
    if not isinstance(value, str) or not value:
        return Foreign("bad_value", f"key {key!r} must be a non-empty string, got {value!r:.60}")
    return value


def _check_int(obj: Mapping[str, Any], key: str, *, minimum: int) -> int | Foreign:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _MAX_INT:
        return Foreign("bad_value", f"key {key!r} must be an int in {minimum}..2**63-1, got {value!r:.60}")
    return value


def decode_envelope(
    payload: bytes | bytearray | memoryview | str | Mapping[str, Any], *, run_id: str | None = None
) -> Envelope | Foreign:
    """Decode a harness envelope; return :class:`Foreign` for anything else.

    Args:
        payload: the raw message (bytes or text), or an already-parsed JSON
            object, e.g. the envelope nested inside an application message.
            Unknown extra keys are ignored so applications may add fields.
        run_id: if given, envelopes of another run are reported as
            ``Foreign("other_run", ...)``.

    Returns:
        The decoded :class:`Envelope`, or a :class:`Foreign` explaining why
        the payload is not one.
    """
    obj: Any
    if type(payload) is dict or isinstance(payload, Mapping):
        obj = payload
    else:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Foreign("not_json", f"payload is not valid UTF-8 JSON: {exc}")
        except TypeError as exc:
            return Foreign("not_json", f"payload has unsupported type: {exc}")
    if type(obj) is dict:
        # Fast path for a well-formed envelope (what every delivery carries); anything else falls through to
        # the checks below, which name what is wrong.
        try:
            version, run, sender, seq, intended, sent = obj["h"], obj["r"], obj["s"], obj["q"], obj["i"], obj["a"]
        except KeyError:
            pass
        else:
            if (
                type(version) is int
                and version == ENVELOPE_VERSION
                and type(run) is str
                and run
                and (run_id is None or run == run_id)
                and type(sender) is str
                and sender
                and type(seq) is int
                and 0 <= seq <= _MAX_INT
                and type(intended) is int
                and -_MAX_INT <= intended <= _MAX_INT
                and type(sent) is int
                and -_MAX_INT <= sent <= _MAX_INT
            ):
                return Envelope(run, sender, seq, intended, sent)
    if not isinstance(obj, Mapping):
        kind = _JSON_TYPE_NAMES.get(type(obj), type(obj).__name__)
        return Foreign("not_object", f"payload is a JSON {kind}, expected an object")
    missing = [k for k in ("h", "r", "s", "q", "i", "a") if k not in obj]
    if missing:
        return Foreign("missing_key", f"payload lacks envelope key(s) {', '.join(missing)}")
    if type(obj["h"]) is not int or obj["h"] != ENVELOPE_VERSION:
        return Foreign("bad_version", f"envelope version {obj['h']!r:.20}, expected {ENVELOPE_VERSION}")
    run = _check_str(obj, "r")
    if isinstance(run, Foreign):
        return run
    sender = _check_str(obj, "s")
    if isinstance(sender, Foreign):
        return sender
    seq = _check_int(obj, "q", minimum=0)
    if isinstance(seq, Foreign):
        return seq
    intended = _check_int(obj, "i", minimum=-_MAX_INT)
    if isinstance(intended, Foreign):
        return intended
    sent = _check_int(obj, "a", minimum=-_MAX_INT)
    if isinstance(sent, Foreign):
        return sent
    if run_id is not None and run != run_id:
        return Foreign("other_run", f"envelope of run {run!r:.60}, expected {run_id!r}")
    return Envelope(run_id=run, sender=sender, seq=seq, intended_ns=intended, sent_ns=sent)
