from __future__ import annotations

import pytest

from eks_emulator.frames import (
    READ_SERIAL,
    FrameError,
    KeyState,
    KeyStatus,
    MalformedFrame,
    ReadReply,
    ReadRequest,
    Status,
    StatusReply,
    WriteRequest,
    decode_frame,
    key_id,
    status_kind,
)

SERIAL = bytes.fromhex("0011223344556677")


def assert_round_trip(frame: object, hex_bytes: str) -> None:
    """Literal bytes decode to the frame, and the frame serializes back to the same bytes."""
    data = bytes.fromhex(hex_bytes)
    assert decode_frame(data) == frame
    assert frame.serialize() == data  # type: ignore[attr-defined]


# Every vector from docs/eks-emulator.md and the protocol reference, both ways.
@pytest.mark.parametrize(
    ("frame", "hex_bytes"),
    [
        (READ_SERIAL, "07 54 4C 01 00 74 08"),
        (ReadRequest(0, 116), "07 54 4C 01 00 00 74"),
        (ReadReply(116, SERIAL), "0F 52 4C 01 00 74 08 00 11 22 33 44 55 66 77"),
        (ReadReply(0, b"\x41"), "08 52 4C 01 00 00 01 41"),
        (ReadReply(0, bytes(124)), "83 52 4C 01 00 00 7C" + " 00" * 124),
        (WriteRequest(0, b"1234"), "0B 54 50 01 00 00 04 31 32 33 34"),
        (WriteRequest(112, b"\xaa" * 4), "0B 54 50 01 00 70 04 AA AA AA AA"),
        (WriteRequest(0, bytes(116)), "7B 54 50 01 00 00 74" + " 00" * 116),
        (StatusReply(Status.OK), "07 52 46 01 00 00 00"),
        (StatusReply(Status.NO_KEY), "07 52 46 01 00 00 02"),
        (StatusReply(Status.PARITY_ERROR), "07 52 46 01 00 00 03"),
        (StatusReply(Status.MISALIGNED), "07 52 46 01 00 00 06"),
        (StatusReply(0x4A), "07 52 46 01 00 00 4A"),
        (StatusReply(Status.WRITE_PROTECTED), "07 52 46 01 00 00 50"),
        (StatusReply(Status.TOO_MANY_CONNECTIONS), "07 52 46 01 00 00 61"),
        (KeyStatus(), "07 45 6B 01 00 00 00"),
        (KeyStatus(None, 0x1234), "07 45 6B 01 12 34 00"),
        (KeyStatus(KeyState.IN), "07 45 6B 01 00 00 01"),
        (KeyStatus(KeyState.OUT), "07 45 6B 01 00 00 02"),
        (KeyStatus(KeyState.OTHER), "07 45 6B 01 00 00 03"),
    ],
)
def test_literal_vectors(frame: object, hex_bytes: str) -> None:
    assert_round_trip(frame, hex_bytes)


@pytest.mark.parametrize(
    ("hex_bytes", "error", "reported"),
    [
        ("06 45 6B 01 00 00 00", FrameError.LENGTH_TOO_SHORT, "06"),
        ("00", FrameError.LENGTH_TOO_SHORT, "00"),
        ("07 5A 7A 01 00 00 00", FrameError.UNKNOWN_COMMAND, "07 5A 7A"),
        ("07 65 6B 01 00 00 00", FrameError.UNKNOWN_COMMAND, "07 65 6B"),
        ("08 45 6B 01 00 00 00 00", FrameError.LENGTH_MISMATCH, "08 45 6B"),
        ("08 54 4C 01 00 74 08 00", FrameError.LENGTH_MISMATCH, "08 54 4C"),
        ("07 52 46 02 00 00 00", FrameError.BAD_CONSTANT, "07 52 46 02"),
        ("0B 54 50 01 00 00 05 31 32 33 34", FrameError.LENGTH_MISMATCH, "0B 54 50 01 00 00 05"),
        ("0F 52 4C 01 00 74 07 00 11 22 33 44 55 66 77", FrameError.LENGTH_MISMATCH, "0F 52 4C 01 00 74 07"),
        ("07 52 4C 01 00 00 00", FrameError.FIELD_OUT_OF_RANGE, "07 52 4C 01 00 00 00"),
        ("08 52 4C 01 00 7C 01 00", FrameError.FIELD_OUT_OF_RANGE, "08 52 4C 01 00 7C 01 00"),
        ("07 45 6B 01 00 00 04", FrameError.FIELD_OUT_OF_RANGE, "07 45 6B 01 00 00 04"),
        ("07 45 6B 01 00 00", FrameError.TRUNCATED, "07 45 6B 01 00 00"),
        ("07 45 6B 01 00 00 00 07", FrameError.LENGTH_MISMATCH, "07 45 6B 01 00 00 00 07"),
    ],
)
def test_malformed_frames_are_values(hex_bytes: str, error: FrameError, reported: str) -> None:
    result = decode_frame(bytes.fromhex(hex_bytes))
    assert isinstance(result, MalformedFrame)
    assert result.error is error
    assert result.data == bytes.fromhex(reported)
    assert result.detail


def test_rl_over_the_whole_memory_is_limited_to_124_bytes() -> None:
    frame = bytes([7 + 125]) + b"RL\x01\x00\x00" + bytes([125]) + bytes(125)
    result = decode_frame(frame)
    assert isinstance(result, MalformedFrame)
    assert result.error is FrameError.FIELD_OUT_OF_RANGE


def test_device_side_ranges_are_left_to_the_device() -> None:
    # Out-of-range reads and misaligned writes are well-formed frames; the device answers them with a status.
    assert decode_frame(bytes.fromhex("07 54 4C 01 00 75 08")) == ReadRequest(117, 8)
    assert decode_frame(bytes.fromhex("09 54 50 01 00 01 02 AA BB")) == WriteRequest(1, b"\xaa\xbb")


def test_status_kind() -> None:
    assert status_kind(0x00) is Status.OK
    assert status_kind(0x40) is Status.KEY_COMM_ERROR
    assert status_kind(0x4F) is Status.KEY_COMM_ERROR
    assert status_kind(0x61) is Status.TOO_MANY_CONNECTIONS
    assert status_kind(0x17) is None
    assert StatusReply(0x45).kind is Status.KEY_COMM_ERROR


def test_key_id() -> None:
    assert key_id(bytes.fromhex("00a1b2c3d4e5f607")) == "00A1B2C3D4E5F607"
    with pytest.raises(ValueError, match="8 bytes"):
        key_id(b"\x00")


@pytest.mark.parametrize(
    "build",
    [
        lambda: ReadRequest(-1, 1),
        lambda: ReadRequest(0, 256),
        lambda: ReadReply(0, b""),
        lambda: ReadReply(117, b"\x00"),
        lambda: ReadReply(120, bytes(8)),
        lambda: WriteRequest(0, bytes(249)),
        lambda: StatusReply(256),
        lambda: KeyStatus(KeyState.IN, 0x10000),
    ],
)
def test_constructors_refuse_unencodable_fields(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]
