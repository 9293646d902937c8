from __future__ import annotations

import asyncio

import pytest

from eks_emulator.device import EmulatedDevice
from eks_emulator.frames import (
    READ_SERIAL,
    KeyState,
    KeyStatus,
    ReadReply,
    ReadRequest,
    Status,
    StatusReply,
    WriteRequest,
)
from eks_emulator.key import Key, KeyAction
from eks_emulator.service_time import ServiceTime

from .conftest import SERIAL, UNIT, RawClient


async def connected(device: EmulatedDevice) -> RawClient:
    client = await RawClient.connect(device.port)
    assert await client.next_event() == KeyStatus(KeyState.IN if device.key else KeyState.OUT)
    return client


async def test_push_on_accept_reports_current_state(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL))
    client = await RawClient.connect(device.port)
    assert await client.next_event() == KeyStatus(KeyState.IN)
    await client.close()


async def test_push_on_accept_can_be_switched_off() -> None:
    dev = EmulatedDevice(1, service_time=ServiceTime.fixed(0.0), push_on_accept=False)
    await dev.start()
    try:
        client = await RawClient.connect(dev.port)
        await client.expect_silence(0.1 * UNIT)
        assert await client.request(KeyStatus()) == KeyStatus(KeyState.OUT)
        await client.close()
    finally:
        await dev.stop()


async def test_push_on_insert_and_remove(device: EmulatedDevice) -> None:
    client = await connected(device)
    device.insert(Key(SERIAL))
    assert await client.next_event() == KeyStatus(KeyState.IN)
    assert device.remove() is not None
    assert await client.next_event() == KeyStatus(KeyState.OUT)
    assert device.remove() is None
    device.insert(Key(SERIAL))
    device.insert(Key(bytes(8)))
    # Inserting over a key first takes the old one out.
    assert [await client.next_event() for _ in range(3)] == [
        KeyStatus(KeyState.IN),
        KeyStatus(KeyState.OUT),
        KeyStatus(KeyState.IN),
    ]
    await client.close()


async def test_ek_query(device: EmulatedDevice) -> None:
    client = await connected(device)
    assert await client.request(KeyStatus(None, 0xBEEF)) == KeyStatus(KeyState.OUT)
    device.insert(Key(SERIAL))
    assert await client.next_event() == KeyStatus(KeyState.IN)
    assert await client.request(KeyStatus()) == KeyStatus(KeyState.IN)
    await client.close()


async def test_read_serial_and_user_data(device: EmulatedDevice) -> None:
    key = Key(SERIAL)
    key.user_data[0:8] = b"00012345"
    device.insert(key)
    client = await connected(device)
    await client.send(b"\x07\x54\x4c\x01\x00\x74\x08")
    assert await client.read_chunk() == bytes.fromhex("0F 52 4C 01 00 74 08") + SERIAL
    assert await client.request(ReadRequest(0, 8)) == ReadReply(0, b"00012345")
    reply = await client.request(ReadRequest(0, 124))
    assert reply == ReadReply(0, bytes(key.user_data) + SERIAL)
    assert await client.request(ReadRequest(116, 1)) == ReadReply(116, SERIAL[:1])
    await client.close()


@pytest.mark.parametrize(
    "request_frame",
    [
        ReadRequest(117, 1),
        ReadRequest(123, 1),
        ReadRequest(0, 0),
        ReadRequest(0, 125),
        ReadRequest(116, 9),
        ReadRequest(0x100, 1),
    ],
)
async def test_read_out_of_range(device: EmulatedDevice, request_frame: ReadRequest) -> None:
    device.insert(Key(SERIAL))
    client = await connected(device)
    assert await client.request(request_frame) == StatusReply(Status.MISALIGNED)
    await client.close()


async def test_read_and_write_without_key(device: EmulatedDevice) -> None:
    client = await connected(device)
    await client.send(READ_SERIAL)
    assert await client.read_chunk() == bytes.fromhex("07 52 46 01 00 00 02")
    assert await client.request(WriteRequest(0, b"abcd")) == StatusReply(Status.NO_KEY)
    await client.close()


async def test_write_then_read_back(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL))
    client = await connected(device)
    assert await client.request(WriteRequest(4, b"WXYZ1234")) == StatusReply(Status.OK)
    assert await client.request(ReadRequest(0, 12)) == ReadReply(0, bytes(4) + b"WXYZ1234")
    assert await client.request(WriteRequest(112, b"last")) == StatusReply(Status.OK)
    # The serial cannot be written: 112 + 8 reaches past the user data.
    assert await client.request(WriteRequest(112, b"12345678")) == StatusReply(Status.MISALIGNED)
    assert device.key is not None and device.key.serial == SERIAL
    await client.close()


@pytest.mark.parametrize(
    "request_frame",
    [
        WriteRequest(1, b"abcd"),
        WriteRequest(0, b"abc"),
        WriteRequest(0, b""),
        WriteRequest(116, b"abcd"),
        WriteRequest(0, bytes(120)),
    ],
)
async def test_write_misaligned_or_out_of_range(device: EmulatedDevice, request_frame: WriteRequest) -> None:
    device.insert(Key(SERIAL))
    client = await connected(device)
    assert await client.request(request_frame) == StatusReply(Status.MISALIGNED)
    assert device.key is not None and device.key.user_data == bytearray(116)
    await client.close()


async def test_write_protected_key(device: EmulatedDevice) -> None:
    device.insert(Key(SERIAL, read_only=True))
    client = await connected(device)
    assert await client.request(WriteRequest(0, b"abcd")) == StatusReply(Status.WRITE_PROTECTED)
    await client.close()


async def test_one_client_only(device: EmulatedDevice) -> None:
    first = await connected(device)
    second = await RawClient.connect(device.port)
    assert await second.read_chunk() == bytes.fromhex("07 52 46 01 00 00 61")
    assert await second.expect_closed() == []
    # The first client is unaffected, and once it leaves a new one is accepted.
    assert await first.request(KeyStatus()) == KeyStatus(KeyState.OUT)
    await first.close()
    for _ in range(50):
        if not device.client_connected:
            break
        await asyncio.sleep(0.01 * UNIT)
    third = await connected(device)
    await third.close()
    assert device.metrics.rejected_busy == 1
    assert device.metrics.accepted == 2


async def test_malformed_request_closes_the_connection(device: EmulatedDevice) -> None:
    client = await connected(device)
    await client.send(b"\x07Zz\x01\x00\x00\x00")
    assert await client.expect_closed() == []
    assert device.metrics.malformed_received == 1


async def test_requests_answered_in_order_after_service_time() -> None:
    dev = EmulatedDevice(2, service_time=ServiceTime.fixed(0.05 * UNIT))
    await dev.start()
    try:
        dev.insert(Key(SERIAL))
        client = await connected(dev)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.send(READ_SERIAL)
        await client.send(KeyStatus())
        await client.send(ReadRequest(0, 4))
        assert await client.next_event() == ReadReply(116, SERIAL)
        assert await client.next_event() == KeyStatus(KeyState.IN)
        assert await client.next_event() == ReadReply(0, bytes(4))
        assert loop.time() - started >= 0.05 * UNIT
        await client.close()
    finally:
        await dev.stop()


async def test_key_pulled_during_service_time_gives_no_key() -> None:
    dev = EmulatedDevice(3, service_time=ServiceTime.fixed(0.1 * UNIT))
    await dev.start()
    try:
        dev.insert(Key(SERIAL))
        client = await connected(dev)
        await client.send(READ_SERIAL)
        dev.remove()
        assert await client.next_event() == KeyStatus(KeyState.OUT)
        assert await client.next_event() == StatusReply(Status.NO_KEY)
        await client.close()
    finally:
        await dev.stop()


async def test_observer_sees_inserts_and_removes(device: EmulatedDevice) -> None:
    seen: list[tuple[KeyAction, str, str, bool]] = []
    device.observer = lambda dev, action, key, source, pushed: seen.append((action, key.id, source, pushed))
    device.insert(Key(SERIAL), source="test")
    client = await connected(device)
    device.remove(source="test")
    assert await client.next_event() == KeyStatus(KeyState.OUT)
    assert seen == [
        (KeyAction.INSERT, "0011223344556677", "test", False),
        (KeyAction.REMOVE, "0011223344556677", "test", True),
    ]
    await client.close()


async def test_stop_closes_clients(device: EmulatedDevice) -> None:
    client = await connected(device)
    await device.stop()
    assert await client.expect_closed() == []
    with pytest.raises(OSError):
        await RawClient.connect(device.port)
