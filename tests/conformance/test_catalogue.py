"""The case catalogue as data: ids, counts per Autobahn category, sources, and the helpers it relies on."""

from __future__ import annotations

import collections

import pytest

from harness.conformance import wire_cases
from harness.conformance.catalogue_autobahn import autobahn_cases
from harness.conformance.deflate import (
    DeflateParams,
    MessageDeflater,
    MessageInflater,
    parse_deflate_response,
)
from harness.conformance.handshake import accept_for, parse_http_head, parse_ws_url
from harness.conformance.runner import select_cases
from harness.conformance.utf8 import utf8_sequence_groups

#: Autobahn|Testsuite's case counts per category (anchors-conformance.md §1.1).
AUTOBAHN_COUNTS = {
    "1": 16,
    "2": 11,
    "3": 7,
    "4": 10,
    "5": 20,
    "6": 145,
    "7": 37,
    "9": 54,
    "10": 1,
    "12": 90,
    "13": 126,
}


def test_autobahn_case_counts() -> None:
    cases = autobahn_cases()
    counts = collections.Counter(c.category.split(" ", 1)[0] for c in cases)
    assert dict(counts) == AUTOBAHN_COUNTS
    assert len(cases) == 517


def test_ids_unique_and_sourced() -> None:
    cases = wire_cases(max_message_size=1024)
    assert len(cases) >= 500
    assert len({c.id for c in cases}) == len(cases)
    for case in cases:
        assert case.group == "wire"
        assert "RFC" in case.source, case.id
        assert case.description and case.expectation, case.id
        assert (case.expect is None) != (case.handshake is None), case.id
        if not case.id.startswith(("hs.", "lim.", "ka.")):
            assert case.source.startswith(f"Autobahn {case.id};"), case.id


def test_known_ids_exist() -> None:
    ids = {c.id for c in autobahn_cases()}
    for expected in (
        "1.1.8",
        "2.11",
        "3.7",
        "4.2.5",
        "5.20",
        "6.4.4",
        "6.23.7",
        "7.13.2",
        "9.8.6",
        "10.1.1",
        "12.5.18",
        "13.7.18",
    ):
        assert expected in ids


def test_utf8_groups_validity() -> None:
    groups = utf8_sequence_groups()
    assert sum(len(seqs) for _, seqs in groups) == 132
    assert len(groups) == 19
    # The surrogate groups are all invalid, the non-character group all valid (RFC 3629).
    by_title = dict(groups)
    for seq in by_title["Paired UTF-16 surrogates"]:
        with pytest.raises(UnicodeDecodeError):
            seq.decode("utf-8")
    for seq in by_title["Non-characters (valid UTF-8)"]:
        seq.decode("utf-8")


def test_slow_cases_are_opt_in() -> None:
    fast = select_cases()
    assert not any(c.slow for c in fast)
    assert not any(c.id.startswith("9.") for c in fast)
    everything = select_cases(include_slow=True)
    assert len(everything) > len(fast)


def test_select_by_category_and_prefix() -> None:
    assert [c.id for c in select_cases(ids=["6.4"])] == ["6.4.1", "6.4.2", "6.4.3", "6.4.4"]
    assert {c.category.split()[0] for c in select_cases(categories=["handshake"])} == {"handshake"}
    assert len(select_cases(categories=["limits"], max_message_size=100)) == 9


def test_url_and_handshake_helpers() -> None:
    target = parse_ws_url("ws://127.0.0.1:9000/echo?x=1")
    assert (target.host, target.port, target.path) == ("127.0.0.1", 9000, "/echo?x=1")
    with pytest.raises(ValueError):
        parse_ws_url("wss://example.com/")
    # RFC 6455 §1.3's worked example.
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    head = parse_http_head(b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13")
    assert head is not None and head.status == 426 and head.get("sec-websocket-version") == "13"
    assert parse_http_head(b"garbage") is None


def test_deflate_response_parsing() -> None:
    assert parse_deflate_response(None) is None
    assert parse_deflate_response("permessage-deflate; server_no_context_takeover; client_max_window_bits=10") == (
        DeflateParams(server_no_context_takeover=True, client_max_window_bits=10)
    )
    assert isinstance(parse_deflate_response("permessage-deflate; server_max_window_bits=7"), str)
    assert isinstance(parse_deflate_response("permessage-deflate; x=1"), str)
    assert isinstance(parse_deflate_response("foo"), str)


def test_deflate_round_trip_with_context_takeover() -> None:
    params = DeflateParams()
    deflater, inflater = MessageDeflater(params), MessageInflater(params, max_size=1 << 20)
    for message in (b"", b"hello " * 100, b"hello " * 100):
        data = deflater.compress(message)
        assert not data.endswith(b"\x00\x00\xff\xff")
        assert inflater.decompress(data) == message
