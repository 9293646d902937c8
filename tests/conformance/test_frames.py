"""The frame writer and reader against literal bytes: RFC 6455 §5.7's examples, and the illegal forms."""

from __future__ import annotations

import pytest

from harness.conformance.frames import (
    Frame,
    FrameReader,
    LengthForm,
    Opcode,
    apply_mask,
    close_payload,
    encode_frame,
    parse_close_payload,
)

KEY = bytes.fromhex("37fa213d")


def assert_round_trip(frame: Frame, data: bytes, *, mask_key: bytes | None = None) -> None:
    """``frame`` serialises to ``data`` and ``data`` parses back to ``frame`` (masked: with allow_masked)."""
    assert frame.serialize(mask_key=mask_key) == data
    reader = FrameReader(allow_masked=mask_key is not None)
    reader.receive_data(data)
    assert reader.error is None
    assert reader.frames_received() == [frame]
    assert reader.buffered == 0


class TestRfc6455Section57Examples:
    def test_unmasked_text(self) -> None:
        assert_round_trip(Frame(Opcode.TEXT, b"Hello"), bytes.fromhex("810548656c6c6f"))

    def test_masked_text(self) -> None:
        data = bytes.fromhex("818537fa213d7f9f4d5158")
        assert_round_trip(Frame(Opcode.TEXT, b"Hello", masked=True), data, mask_key=KEY)

    def test_fragmented_unmasked_text(self) -> None:
        reader = FrameReader()
        reader.receive_data(bytes.fromhex("010348656c") + bytes.fromhex("80026c6f"))
        assert reader.frames_received() == [
            Frame(Opcode.TEXT, b"Hel", fin=False),
            Frame(Opcode.CONTINUATION, b"lo"),
        ]

    def test_unmasked_ping_and_masked_pong(self) -> None:
        assert_round_trip(Frame(Opcode.PING, b"Hello"), bytes.fromhex("890548656c6c6f"))
        data = bytes.fromhex("8a8537fa213d7f9f4d5158")
        assert_round_trip(Frame(Opcode.PONG, b"Hello", masked=True), data, mask_key=KEY)

    def test_256_byte_binary_uses_16_bit_length(self) -> None:
        payload = bytes(range(256))
        assert_round_trip(Frame(Opcode.BINARY, payload), bytes.fromhex("827e0100") + payload)

    def test_64_kib_binary_uses_64_bit_length(self) -> None:
        payload = b"\xaa" * 65536
        assert_round_trip(Frame(Opcode.BINARY, payload), bytes.fromhex("827f0000000000010000") + payload)


class TestIllegalFrames:
    def test_reserved_bits_and_opcode(self) -> None:
        data = encode_frame(0x0B, b"x", fin=False, rsv1=True, rsv2=False, rsv3=True, mask_key=None)
        assert data == bytes([0x5B, 0x01]) + b"x"
        reader = FrameReader()
        reader.receive_data(data)
        assert reader.frames_received() == [Frame(0x0B, b"x", fin=False, rsv1=True, rsv3=True)]

    def test_oversized_control_frame_is_written(self) -> None:
        data = encode_frame(Opcode.PING, b"\xfe" * 126, mask_key=None)
        assert data[:4] == bytes([0x89, 126, 0x00, 126])

    @pytest.mark.parametrize(
        ("form", "header"),
        [
            (LengthForm.BITS16, bytes([0x81, 126, 0, 5])),
            (LengthForm.BITS64, bytes([0x81, 127, 0, 0, 0, 0, 0, 0, 0, 5])),
        ],
    )
    def test_non_minimal_lengths(self, form: LengthForm, header: bytes) -> None:
        data = encode_frame(Opcode.TEXT, b"Hello", mask_key=None, length_form=form)
        assert data == header + b"Hello"
        reader = FrameReader()
        reader.receive_data(data)
        assert reader.frames_received() == [Frame(Opcode.TEXT, b"Hello")]

    def test_forced_form_too_small_is_refused(self) -> None:
        with pytest.raises(ValueError):
            encode_frame(Opcode.TEXT, b"x" * 126, length_form=LengthForm.BITS7)
        with pytest.raises(ValueError):
            encode_frame(16, b"")

    def test_unmasked_client_frame(self) -> None:
        assert encode_frame(Opcode.TEXT, b"a", mask_key=None) == b"\x81\x01a"


class TestReader:
    def test_byte_by_byte(self) -> None:
        data = encode_frame(Opcode.BINARY, b"\x00" * 300, mask_key=None) + encode_frame(Opcode.PONG, b"", mask_key=None)
        reader = FrameReader()
        seen: list[Frame] = []
        for i in range(len(data)):
            reader.receive_data(data[i : i + 1])
            seen.extend(reader.frames_received())
        assert seen == [Frame(Opcode.BINARY, b"\x00" * 300), Frame(Opcode.PONG, b"")]

    def test_masked_server_frame_is_an_error(self) -> None:
        reader = FrameReader()
        reader.receive_data(encode_frame(Opcode.TEXT, b"Hello", mask_key=KEY))
        assert reader.error is not None
        assert reader.frames_received() == []

    def test_size_limit(self) -> None:
        reader = FrameReader(max_size=10)
        reader.receive_data(bytes([0x82, 127]) + (1 << 62).to_bytes(8, "big"))
        assert reader.error is not None and "exceeds" in str(reader.error)

    def test_truncated_frame_stays_buffered(self) -> None:
        reader = FrameReader()
        reader.receive_data(bytes.fromhex("8105486565"))
        reader.receive_eof()
        assert reader.frames_received() == []
        assert reader.buffered == 5


def test_mask_is_an_involution() -> None:
    assert apply_mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
    assert apply_mask(apply_mask(b"x" * 1001, KEY), KEY) == b"x" * 1001
    with pytest.raises(ValueError):
        apply_mask(b"x", b"abc")


def test_close_payloads() -> None:
    assert close_payload(1000, b"bye") == b"\x03\xe8bye"
    assert close_payload(None) == b""
    assert parse_close_payload(b"\x03\xe8bye") == (1000, b"bye")
    assert parse_close_payload(b"a") == (None, b"a")
    assert parse_close_payload(b"") == (None, b"")
