from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eks_emulator.frames import (
    READ_SERIAL,
    Frame,
    FrameError,
    KeyState,
    KeyStatus,
    MalformedFrame,
    ReadReply,
    ReadRequest,
    StatusReply,
    WriteRequest,
    decode_frame,
)
from eks_emulator.protocol import ConnectionClosed, ConnectionState, EksConnection, LocalProtocolError, Role

SERIAL = bytes.fromhex("0011223344556677")


def read_requests() -> st.SearchStrategy[ReadRequest]:
    return st.builds(ReadRequest, st.integers(0, 0xFFFF), st.integers(0, 0xFF))


def write_requests() -> st.SearchStrategy[WriteRequest]:
    return st.builds(WriteRequest, st.integers(0, 0xFFFF), st.binary(max_size=248))


def queries() -> st.SearchStrategy[KeyStatus]:
    return st.builds(KeyStatus, st.none(), st.integers(0, 0xFFFF))


@st.composite
def read_replies(draw: st.DrawFn) -> ReadReply:
    start = draw(st.integers(0, 116))
    data = draw(st.binary(min_size=1, max_size=124 - start))
    return ReadReply(start, data)


def key_states() -> st.SearchStrategy[KeyStatus]:
    return st.builds(KeyStatus, st.sampled_from(list(KeyState)), st.integers(0, 0xFFFF))


def status_replies() -> st.SearchStrategy[StatusReply]:
    return st.builds(StatusReply, st.integers(0, 0xFF), st.integers(0, 0xFFFF))


controller_frames = st.one_of(read_requests(), write_requests(), queries())
device_frames = st.one_of(read_replies(), status_replies(), key_states())
all_frames = st.one_of(controller_frames, device_frames)


@given(all_frames)
def test_every_frame_round_trips(frame: Frame) -> None:
    assert decode_frame(frame.serialize()) == frame


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[last:point])
        last = point
    return [p for p in pieces if p]


def _feed(role: Role, pieces: list[bytes]) -> list[object]:
    conn = EksConnection(role)
    for piece in pieces:
        if piece:  # b"" would mean EOF
            conn.receive_data(piece)
    return list(conn.events_received())


@given(st.lists(device_frames, min_size=1, max_size=8), st.lists(st.integers(0, 2000), max_size=20))
def test_any_split_of_a_device_stream_decodes_identically(frames: list[Frame], cuts: list[int]) -> None:
    stream = b"".join(f.serialize() for f in frames)
    assert _feed(Role.CONTROLLER, _split(stream, cuts)) == frames
    assert _feed(Role.CONTROLLER, [stream[i : i + 1] for i in range(len(stream))]) == frames


@given(st.lists(controller_frames, min_size=1, max_size=8), st.lists(st.integers(0, 2000), max_size=20))
def test_any_split_of_a_controller_stream_decodes_identically(frames: list[Frame], cuts: list[int]) -> None:
    stream = b"".join(f.serialize() for f in frames)
    assert _feed(Role.DEVICE, _split(stream, cuts)) == frames


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=10), st.sampled_from(list(Role)))
def test_random_bytes_never_raise_and_split_does_not_matter(data: bytes, cuts: list[int], role: Role) -> None:
    whole = _feed(role, [data])
    assert _feed(role, _split(data, cuts)) == whole
    # At most one error, and nothing after it: the stream is not trusted once it went wrong.
    errors = [i for i, e in enumerate(whole) if isinstance(e, MalformedFrame)]
    assert len(errors) <= 1
    if errors:
        assert errors[0] == len(whole) - 1
    conn = EksConnection(role)
    conn.receive_data(data)
    conn.receive_eof()
    assert isinstance(conn.events_received()[-1], ConnectionClosed)


def test_coalesced_frames_in_one_segment() -> None:
    conn = EksConnection(Role.CONTROLLER)
    conn.receive_data(bytes.fromhex("07 45 6B 01 00 00 01 0F 52 4C 01 00 74 08") + SERIAL + b"\x07RF")
    assert conn.events_received() == [KeyStatus(KeyState.IN), ReadReply(116, SERIAL)]
    assert conn.buffered == 3
    conn.receive_data(b"\x01\x00\x00\x02")
    assert conn.events_received() == [StatusReply(2)]
    assert conn.buffered == 0


def test_garbage_fails_the_connection_once_and_discards_the_rest() -> None:
    conn = EksConnection(Role.CONTROLLER)
    conn.receive_data(bytes.fromhex("07 45 6B 01 00 00 02 07 5A 7A 01 00 00 00 07 45 6B 01 00 00 01"))
    events = conn.events_received()
    assert events[0] == KeyStatus(KeyState.OUT)
    assert isinstance(events[1], MalformedFrame)
    assert events[1].error is FrameError.UNKNOWN_COMMAND
    assert len(events) == 2
    assert conn.close_expected()
    assert conn.state is ConnectionState.FAILED
    conn.receive_data(bytes.fromhex("07 45 6B 01 00 00 01"))
    assert conn.events_received() == []


def test_early_error_without_waiting_for_the_announced_length() -> None:
    # An FF length byte followed by a bad id must fail at once, not wait for 255 bytes that never come.
    conn = EksConnection(Role.CONTROLLER)
    conn.receive_data(b"\xffZz")
    [event] = conn.events_received()
    assert isinstance(event, MalformedFrame) and event.error is FrameError.UNKNOWN_COMMAND


def test_wrong_direction_is_a_protocol_error() -> None:
    device = EksConnection(Role.DEVICE)
    device.receive_data(StatusReply(0).serialize())
    [event] = device.events_received()
    assert isinstance(event, MalformedFrame) and event.error is FrameError.UNEXPECTED_COMMAND
    controller = EksConnection(Role.CONTROLLER)
    controller.receive_data(KeyStatus().serialize())
    [event] = controller.events_received()
    assert isinstance(event, MalformedFrame) and event.error is FrameError.UNEXPECTED_COMMAND


def test_device_accepts_any_ek_as_a_query() -> None:
    device = EksConnection(Role.DEVICE)
    device.receive_data(bytes.fromhex("07 45 6B 01 AB CD 00"))
    assert device.events_received() == [KeyStatus(None, 0xABCD)]


def test_eof_inside_a_frame_is_reported() -> None:
    conn = EksConnection(Role.CONTROLLER)
    conn.receive_data(b"\x0fRL\x01\x00\x74\x08\x00")
    conn.receive_data(b"")
    events = conn.events_received()
    assert isinstance(events[0], MalformedFrame) and events[0].error is FrameError.TRUNCATED
    assert events[1] == ConnectionClosed()
    assert conn.state is ConnectionState.CLOSED


def test_send_checks_the_role() -> None:
    controller = EksConnection(Role.CONTROLLER)
    assert controller.send(READ_SERIAL) == bytes.fromhex("07 54 4C 01 00 74 08")
    assert controller.send(KeyStatus()) == bytes.fromhex("07 45 6B 01 00 00 00")
    with pytest.raises(LocalProtocolError):
        controller.send(StatusReply(0))
    with pytest.raises(LocalProtocolError):
        controller.send(KeyStatus(KeyState.IN))
    device = EksConnection(Role.DEVICE)
    assert device.send(ReadReply(116, SERIAL)) == bytes.fromhex("0F 52 4C 01 00 74 08 00 11 22 33 44 55 66 77")
    with pytest.raises(LocalProtocolError):
        device.send(READ_SERIAL)
    with pytest.raises(LocalProtocolError):
        device.send(KeyStatus())
