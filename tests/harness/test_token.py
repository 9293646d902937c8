"""The correlation token survives what apps do to relayed text, and a damaged one is never taken for a message."""

from __future__ import annotations

import html
import json
import urllib.parse

import pytest

from harness.load.envelope import Envelope
from harness.load.token import encode_token, find_tokens, run_key

RUN = "086a1f3dc509-1-0"


def envelope(seq: int = 7, sender: str = "u12") -> Envelope:
    return Envelope(RUN, sender, seq, 1_234_567_890_123, 1_234_567_990_456)


def test_a_token_is_one_word_of_ascii_letters_digits_and_underscores_and_reads_back() -> None:
    token = encode_token(envelope())
    assert token.isascii() and token.replace("_", "").isalnum() and token.startswith("hx1_")
    assert find_tokens(token, run_id=RUN).envelopes == [envelope()]
    # Without a run to look for, the run is known by its key only.
    assert find_tokens(token).envelopes == [Envelope(run_key(RUN), "u12", 7, 1_234_567_890_123, 1_234_567_990_456)]
    extreme = Envelope("any run id: ü", "9" * 64, 2**63 - 1, 0, 2**63 - 1)
    assert find_tokens(encode_token(extreme), run_id=extreme.run_id).envelopes == [extreme]


@pytest.mark.parametrize(
    "relay",
    [
        lambda t: json.dumps({"message": t, "user": "alice"}),
        lambda t: json.dumps({"outer": json.dumps({"message": f"said: {t}!"})}),
        lambda t: html.escape(f'<p class="msg">{t}</p>'),
        lambda t: f"<li>{t}</li>".upper(),
        lambda t: urllib.parse.quote(f"msg={t}&x=1"),
        lambda t: f"{t}glued_on_after",
        lambda t: f"before{t}",
        lambda t: json.dumps({"state": [{"text": t}]}, ensure_ascii=True, indent=2),
    ],
)
def test_the_token_survives_reserialization_escaping_html_case_and_glue(relay) -> None:  # type: ignore[no-untyped-def]
    scan = find_tokens(relay(encode_token(envelope())), run_id=RUN)
    assert (scan.envelopes, scan.corrupt, scan.other_run) == ([envelope()], 0, 0)


def test_every_token_of_a_state_snapshot_is_found_in_order() -> None:
    tokens = [encode_token(envelope(seq)) for seq in range(5)]
    snapshot = json.dumps({"messages": [{"id": i, "text": t} for i, t in enumerate(tokens)]})
    assert [e.seq for e in find_tokens(snapshot, run_id=RUN).envelopes] == [0, 1, 2, 3, 4]
    assert [e.seq for e in find_tokens("".join(tokens)).envelopes] == [0, 1, 2, 3, 4]


def test_a_damaged_token_is_corrupt_and_does_not_hide_a_good_one_after_it() -> None:
    token = encode_token(envelope())
    changed = token[:-7] + ("1" if token[-7] != "1" else "2") + token[-6:]
    for damaged in (token[:-1], token[:12], changed, token.replace("_u12_", "_u13_")):
        for text in (f"x {damaged} y {encode_token(envelope(8))}", f"{damaged}{encode_token(envelope(8))}"):
            scan = find_tokens(text)
            assert ([e.seq for e in scan.envelopes], scan.corrupt) == ([8], 1), text


def test_other_runs_are_counted_apart_and_text_without_tokens_is_nothing() -> None:
    other = Envelope("ffff", "u1", 0, 1, 2)
    scan = find_tokens(f"{encode_token(other)} {encode_token(envelope())}", run_id=RUN)
    assert (scan.envelopes, scan.other_run, scan.corrupt) == ([envelope()], 1, 0)
    assert find_tokens('{"type": "presence", "user": "hx1"}') == find_tokens("")


def test_a_sender_ending_in_the_prefix_is_not_a_damaged_token_inside_a_good_one() -> None:
    tricky = Envelope(RUN, "abhx1", 3, 4, 5)
    scan = find_tokens(encode_token(tricky), run_id=RUN)
    assert (scan.envelopes, scan.corrupt) == ([tricky], 0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Envelope(RUN, "U1", 0, 0, 0), "sender must be 1-64 lower-case ASCII letters and digits"),
        (Envelope(RUN, "u-1", 0, 0, 0), "sender must be"),
        (Envelope(RUN, "", 0, 0, 0), "sender must be"),
        (Envelope(RUN, "u1", -1, 0, 0), r"seq must be in 0\.\.2\*\*63-1"),
        (Envelope(RUN, "u1", 0, 0, 2**63), r"sent_ns must be in 0\.\.2\*\*63-1"),
    ],
)
def test_what_a_token_cannot_carry_is_refused(bad: Envelope, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_token(bad)
