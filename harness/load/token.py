"""The correlation token: the harness envelope as one word that survives what an app does to the text it relays.

A user's own app does not relay our JSON envelope (:mod:`harness.load.envelope`): it takes a field of what a client
sent, re-serializes it, escapes it, wraps it in HTML or in a state snapshot, and sends that on. What survives all of
those is a run of ASCII letters, digits and underscores, so the token is one: JSON, HTML and URL escaping leave it
alone, and a receiver finds it anywhere in a text frame without knowing the app's schema. ::

    hx1_<run>_<sender>_<seq>_<intended>_<sent>_<check>

``run`` is a key of the run's id (base 36 of its CRC-32: run ids may hold any character), ``sender`` the sender's id
(lower-case letters and digits); ``seq`` (the sender's sequence number), ``intended`` and ``sent`` (the scheduled
and the actual send time, ``time.monotonic_ns()``) are base 36; ``check`` is four base-36 digits of a CRC-32 of
everything before it. The check has a fixed length, so a token ends where it ends even when the app glues letters
after it, and a token damaged on the way (truncated, one character changed) is counted as corrupt instead of being
taken for another message. A frame may hold several tokens (an app that re-broadcasts its whole state);
:func:`find_tokens` returns every one, in order.

Bytes in, values out: no I/O, no clock; the same clock caveat as the envelope's applies to the times.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Final

from harness.load.envelope import Envelope

__all__ = ["TOKEN_PREFIX", "TokenScan", "encode_token", "find_tokens", "run_key"]

TOKEN_PREFIX: Final = "hx1_"
_ID: Final = re.compile(r"^[a-z0-9]{1,64}$")
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_CHECK_SPACE: Final = 36**4
# Base 36 of 2**63 - 1 has 13 digits.
_TOKEN: Final = re.compile(
    r"hx1_([0-9a-z]{1,7})_([a-z0-9]{1,64})_([0-9a-z]{1,13})_([0-9a-z]{1,13})_([0-9a-z]{1,13})_([0-9a-z]{4})"
)
_MAX_INT: Final = 2**63 - 1


def _base36(value: int) -> str:
    if value == 0:
        return "0"
    digits = []
    while value:
        value, digit = divmod(value, 36)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits))


def _check(body: str) -> str:
    value = zlib.crc32(body.encode("ascii")) % _CHECK_SPACE
    return _base36(value).rjust(4, "0")


def run_key(run_id: str) -> str:
    """What a token carries of ``run_id``: base 36 of its CRC-32."""
    return _base36(zlib.crc32(run_id.encode("utf-8")))


def encode_token(envelope: Envelope) -> str:
    """The token of ``envelope``.

    Raises:
        ValueError: if the sender id is not 1-64 lower-case letters and digits, or a number is negative or beyond
            2**63 - 1 (a token carries no sign).
    """
    if not _ID.match(envelope.sender):
        raise ValueError(
            f"a token's sender must be 1-64 lower-case ASCII letters and digits, got {envelope.sender!r:.80}"
        )
    numbers = (("seq", envelope.seq), ("intended_ns", envelope.intended_ns), ("sent_ns", envelope.sent_ns))
    for name, number in numbers:
        if not 0 <= number <= _MAX_INT:
            raise ValueError(f"a token's {name} must be in 0..2**63-1, got {number}")
    body = "_".join(
        (TOKEN_PREFIX + run_key(envelope.run_id), envelope.sender, *(_base36(number) for _, number in numbers))
    )
    return f"{body}_{_check(body)}"


@dataclass(slots=True)
class TokenScan:
    """What :func:`find_tokens` found in one text.

    Attributes:
        envelopes: every valid token of the run asked for, in order, with that run's id; of any run when none was,
            with the run's key (:func:`run_key`) for its id.
        corrupt: texts that start like a token (``hx1_``) but do not check out: damaged on the way.
        other_run: valid tokens of another run.
    """

    envelopes: list[Envelope] = field(default_factory=list)
    corrupt: int = 0
    other_run: int = 0


def find_tokens(text: str, *, run_id: str | None = None) -> TokenScan:
    """Every token in ``text``, checked; tokens of a run other than ``run_id`` (when given) are only counted."""
    scan = TokenScan()
    key = None if run_id is None else run_key(run_id)
    # Only ASCII letters matter to a token, and lower() maps them one to one; the positions below are in `folded`.
    folded = text.lower()
    pos = folded.find(TOKEN_PREFIX)
    covered_until = -1
    # Each "hx1_" is tried where it starts, rather than matching left to right: a damaged token must not swallow
    # the start of a good one after it. One inside a good token (a run id ending in "hx1") is part of that token.
    while pos != -1:
        if pos >= covered_until:
            envelope = _token_at(folded, pos)
            if envelope is None:
                scan.corrupt += 1
            else:
                covered_until = pos + envelope[1]
                if key is not None and envelope[0].run_id != key:
                    scan.other_run += 1
                else:
                    found = envelope[0]
                    if run_id is not None:
                        found.run_id = run_id
                    scan.envelopes.append(found)
        pos = folded.find(TOKEN_PREFIX, pos + 1)
    return scan


def _token_at(text: str, pos: int) -> tuple[Envelope, int] | None:
    """The valid token starting at ``pos`` and its length, or None."""
    match = _TOKEN.match(text, pos)
    if match is None:
        return None
    run, sender, seq, intended, sent, check = match.groups()
    token = match.group(0)
    values = [int(part, 36) for part in (seq, intended, sent)]
    if check != _check(token[:-5]) or any(v > _MAX_INT for v in values):
        return None
    return Envelope(run, sender, values[0], values[1], values[2]), len(token)
