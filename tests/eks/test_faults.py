from __future__ import annotations

import asyncio

import pytest

from eks_emulator.device import EmulatedDevice
from eks_emulator.faults import (
    Fault,
    FaultKind,
    FaultSpecError,
    replace_command,
    replace_length,
    select_fraction,
)
from eks_emulator.frames import (
    READ_SERIAL,
    FrameError,
    KeyState,
    KeyStatus,
    MalformedFrame,
    ReadReply,
    Status,
    StatusReply,
)
from eks_emulator.key import Key

from .conftest import SERIAL, UNIT, RawClient


async def connected(device: EmulatedDevice) -> RawClient:
    client = await RawClient.connect(device.port)
    assert isinstance(await client.next_event(), KeyStatus)
    return client


async def refused(port: int) -> bool:
    try:
        client = await RawClient.connect(port)
    except ConnectionRefusedError:
        return True
    await client.close()
    return False


async def wait_for(predicate: object, timeout: float = UNIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01 * UNIT)


async def test_fin(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.FIN))
    assert await client.expect_closed() == []
    assert device.faults == {}


async def test_rst(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.RST))
    with pytest.raises(ConnectionResetError):
        await client.read_chunk()


async def test_reboot_refuses_connects_then_comes_back(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL))
    client = await connected(device)
    device.reboot(0.2 * UNIT, keep_key=True)
    with pytest.raises(ConnectionResetError):
        await client.read_chunk()
    assert await refused(device.port)
    await wait_for(lambda: device.listening)
    again = await RawClient.connect(device.port)
    assert await again.next_event() == KeyStatus(KeyState.IN)
    await again.close()
    assert device.faults == {}


async def test_reboot_can_clear_the_key(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL))
    device.inject(Fault(FaultKind.REBOOT, down_s=10 * UNIT, keep_key=False))
    assert await refused(device.port)
    assert device.clear(FaultKind.REBOOT) == [FaultKind.REBOOT]
    await wait_for(lambda: device.listening)
    again = await RawClient.connect(device.port)
    assert await again.next_event() == KeyStatus(KeyState.OUT)
    await again.close()


async def test_blackhole_keeps_the_socket_but_answers_nothing(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.BLACKHOLE))
    await client.send(KeyStatus())
    device.insert(Key(SERIAL))
    await client.expect_silence(0.15 * UNIT)
    device.clear()
    assert await client.request(KeyStatus()) == KeyStatus(KeyState.IN)
    await client.close()


async def test_fault_duration_clears_itself(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.BLACKHOLE, duration_s=0.1 * UNIT))
    await wait_for(lambda: FaultKind.BLACKHOLE not in device.faults)
    assert await client.request(KeyStatus()) == KeyStatus(KeyState.OUT)
    await client.close()


async def test_flap_cycles_down_and_up(device: EmulatedDevice) -> None:
    device.inject(Fault(FaultKind.FLAP, down_s=0.05 * UNIT, up_s=0.05 * UNIT, cycles=2))
    assert not device.listening
    await wait_for(lambda: FaultKind.FLAP not in device.faults, 2 * UNIT)
    await wait_for(lambda: device.listening)
    assert device.metrics.reboots == 2
    client = await connected(device)
    await client.close()


async def test_slow_adds_delay(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.SLOW, delay_s=0.2 * UNIT))
    await client.send(KeyStatus())
    await client.expect_silence(0.1 * UNIT)
    assert await client.next_event() == KeyStatus(KeyState.OUT)
    await client.close()


async def test_split_writes_one_byte_at_a_time(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL))
    client = await connected(device)
    device.inject(Fault(FaultKind.SPLIT, gap_s=0.01 * UNIT))
    client.chunks.clear()
    assert await client.request(READ_SERIAL) == ReadReply(116, SERIAL)
    assert len(client.chunks) > 1
    assert all(len(c) <= 2 for c in client.chunks[:3])
    assert b"".join(client.chunks) == ReadReply(116, SERIAL).serialize()
    await client.close()


async def test_coalesce_puts_two_frames_in_one_write(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.COALESCE))
    await client.send(READ_SERIAL)
    chunk = await client.read_chunk()
    assert chunk == StatusReply(Status.NO_KEY).serialize() + KeyStatus(KeyState.OUT).serialize()
    await client.close()


@pytest.mark.parametrize(
    ("fault", "error", "raw"),
    [
        (Fault(FaultKind.BAD_LENGTH), FrameError.LENGTH_MISMATCH, "08 45 6B 01 00 00 02"),
        (Fault(FaultKind.BAD_LENGTH, length=3), FrameError.LENGTH_TOO_SHORT, "03 45 6B 01 00 00 02"),
        (Fault(FaultKind.UNKNOWN_COMMAND), FrameError.UNKNOWN_COMMAND, "07 5A 7A 01 00 00 02"),
    ],
)
async def test_mangled_frames(device: EmulatedDevice, fault: Fault, error: FrameError, raw: str) -> None:
    client = await connected(device)
    device.inject(fault)
    await client.send(KeyStatus())
    chunk = await client.read_chunk()
    assert chunk == bytes.fromhex(raw)
    client.conn.receive_data(chunk)
    [event] = client.conn.events_received()
    assert isinstance(event, MalformedFrame) and event.error is error
    await client.close()


async def test_garbage_replaces_frames_with_random_bytes(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.GARBAGE, size=32))
    await client.send(KeyStatus())
    data = b""
    while len(data) < 32:
        data += await client.read_chunk()
    assert len(data) == 32
    assert data != KeyStatus(KeyState.OUT).serialize()
    await client.close()


async def test_read_error(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL))
    client = await connected(device)
    device.inject(Fault(FaultKind.READ_ERROR, status=0x42))
    assert await client.request(READ_SERIAL) == StatusReply(0x42)
    device.inject(Fault(FaultKind.READ_ERROR, status=0x03))
    assert await client.request(READ_SERIAL) == StatusReply(Status.PARITY_ERROR)
    assert await client.request(KeyStatus()) == KeyStatus(KeyState.IN)
    device.clear(FaultKind.READ_ERROR)
    assert await client.request(READ_SERIAL) == ReadReply(116, SERIAL)
    await client.close()


async def test_pulled_mid_read(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL))
    client = await connected(device)
    device.inject(Fault(FaultKind.PULLED_MID_READ))
    assert await client.request(READ_SERIAL) == StatusReply(Status.NO_KEY)
    assert await client.next_event() == KeyStatus(KeyState.OUT)
    assert device.key is None and device.faults == {}


async def test_ek_other(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.EK_OTHER))
    assert await client.next_event() == KeyStatus(KeyState.OTHER)
    assert await client.request(KeyStatus()) == KeyStatus(KeyState.OTHER)
    device.clear(FaultKind.EK_OTHER)
    assert await client.next_event() == KeyStatus(KeyState.OUT)
    await client.close()


async def test_bounce_inserts_removes_inserts_within_300_ms(device: EmulatedDevice) -> None:
    client = await connected(device)
    loop = asyncio.get_running_loop()
    started = loop.time()
    device.inject(Fault(FaultKind.BOUNCE, gap_s=0.05, serial_hex="0011223344556677"))
    states = [await client.next_event() for _ in range(3)]
    assert states == [KeyStatus(KeyState.IN), KeyStatus(KeyState.OUT), KeyStatus(KeyState.IN)]
    assert loop.time() - started < 0.3 * UNIT
    assert device.key is not None and device.key.serial == SERIAL
    await client.close()


async def test_second_client(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.inject(Fault(FaultKind.SECOND_CLIENT))
    assert await client.expect_closed() == [StatusReply(Status.TOO_MANY_CONNECTIONS)]
    other = await RawClient.connect(device.port)
    assert await other.expect_closed() == [StatusReply(Status.TOO_MANY_CONNECTIONS)]
    device.clear()
    again = await connected(device)
    await again.close()


def test_fault_from_mapping_names_the_bad_field() -> None:
    assert Fault.from_mapping({"kind": "slow", "delay_s": 1}) == Fault(FaultKind.SLOW, delay_s=1.0)
    with pytest.raises(FaultSpecError, match="kind 'melt'"):
        Fault.from_mapping({"kind": "melt"})
    with pytest.raises(FaultSpecError, match="'kind' is required"):
        Fault.from_mapping({})
    with pytest.raises(FaultSpecError, match="delay_s must be a number"):
        Fault.from_mapping({"kind": "slow", "delay_s": "soon"})
    with pytest.raises(FaultSpecError, match="unknown field"):
        Fault.from_mapping({"kind": "slow", "speed": 1})
    with pytest.raises(FaultSpecError, match="status"):
        Fault.from_mapping({"kind": "read_error", "status": 0x61})
    with pytest.raises(FaultSpecError, match="command"):
        Fault.from_mapping({"kind": "unknown_command", "command": "TL"})
    with pytest.raises(FaultSpecError, match="keep_key must be true or false"):
        Fault.from_mapping({"kind": "reboot", "keep_key": 1})


def test_byte_helpers() -> None:
    frame = bytes.fromhex("07 52 46 01 00 00 00")
    assert replace_length(frame, None) == bytes.fromhex("08 52 46 01 00 00 00")
    assert replace_command(frame, "Zz") == bytes.fromhex("07 5A 7A 01 00 00 00")


def test_select_fraction_is_seeded_and_order_free() -> None:
    ids = list(range(100))
    picked = select_fraction(ids, 0.1, seed=5)
    assert len(picked) == 10
    assert picked == select_fraction(reversed(ids), 0.1, seed=5)
    assert picked != select_fraction(ids, 0.1, seed=6)
    assert select_fraction(ids, 0.001, seed=5) and select_fraction(ids, 0, seed=5) == []
    with pytest.raises(FaultSpecError):
        select_fraction(ids, 1.5, seed=5)
