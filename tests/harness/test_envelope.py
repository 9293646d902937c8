from __future__ import annotations

from types import MappingProxyType

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load.envelope import Envelope, Foreign, decode_envelope, encode_envelope

ENV = Envelope(run_id="r-1", sender="u7", seq=41, intended_ns=1_000, sent_ns=1_250)


def test_round_trip_and_compact_keys():
    data = encode_envelope(ENV)
    assert data == b'{"h":1,"r":"r-1","s":"u7","q":41,"i":1000,"a":1250}'
    assert decode_envelope(data) == ENV
    assert decode_envelope(data.decode()) == ENV


def test_decode_nested_dict_ignores_extra_keys():
    app_message = {"type": "chat", "env": {**ENV.to_dict(), "x": 1}}
    assert decode_envelope(app_message["env"]) == ENV


@pytest.mark.parametrize("target", [100, 256, 4096])
def test_padding_reaches_exact_size(target):
    data = encode_envelope(ENV, pad_to=target)
    assert len(data) == target
    assert decode_envelope(data) == ENV
    assert orjson.loads(data)["p"] == "x" * (target - len(encode_envelope(ENV)) - 7)


def test_padding_smaller_than_envelope_is_a_no_op():
    assert encode_envelope(ENV, pad_to=10) == encode_envelope(ENV)
    with pytest.raises(ValueError, match="pad_to"):
        encode_envelope(ENV, pad_to=-1)


def _raw(**overrides):
    d = ENV.to_dict()
    d.update(overrides)
    return orjson.dumps({k: v for k, v in d.items() if v is not ...})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not_json"),
        (b"{not json", "not_json"),
        (b"", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"hello"', "not_object"),
        (b'{"type": "chat", "text": "hi"}', "missing_key"),
        (_raw(a=...), "missing_key"),
        (_raw(h=2), "bad_version"),
        (_raw(h=True), "bad_version"),
        (_raw(h=1.0), "bad_version"),
        (_raw(q=-1), "bad_value"),
        (_raw(q="3"), "bad_value"),
        (_raw(q=False), "bad_value"),
        (_raw(i=1.5), "bad_value"),
        (_raw(r=""), "bad_value"),
        (_raw(s=5), "bad_value"),
        (_raw(a=2**63), "bad_value"),
    ],
)
def test_malformed_payloads_return_foreign(payload, reason):
    result = decode_envelope(payload)
    assert isinstance(result, Foreign)
    assert result.reason == reason
    assert result.detail


def test_other_run_is_foreign():
    data = encode_envelope(ENV)
    assert decode_envelope(data, run_id="r-1") == ENV
    result = decode_envelope(data, run_id="r-2")
    assert isinstance(result, Foreign) and result.reason == "other_run"


_any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "h": st.one_of(st.just(1), _any_value),
            "r": st.one_of(st.just("r-1"), _any_value),
            "s": st.one_of(st.just("s"), _any_value),
            "q": st.one_of(st.integers(0, 5), _any_value),
            "i": st.one_of(st.integers(-5, 5), _any_value),
            "a": st.one_of(st.integers(-5, 5), _any_value),
        },
    ),
    st.sampled_from([None, "r-1", "r-2"]),
)
def test_dict_fast_path_agrees_with_the_general_checks(obj, run_id):
    # A plain dict takes the fast path; the same keys behind a read-only mapping take the general checks.
    fast = decode_envelope(obj, run_id=run_id)
    general = decode_envelope(MappingProxyType(obj), run_id=run_id)
    assert type(fast) is type(general)
    if isinstance(fast, Foreign):
        assert isinstance(general, Foreign) and fast.reason == general.reason
    else:
        assert fast == general
