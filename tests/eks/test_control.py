from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from eks_emulator.control import Controller
from eks_emulator.control_http import ControlServer
from eks_emulator.events import KeyEvent
from eks_emulator.faults import Fault, FaultKind
from eks_emulator.fleet import Fleet, FleetConfig
from eks_emulator.frames import READ_SERIAL, KeyState, KeyStatus, ReadReply, ReadRequest
from eks_emulator.key import KeyAction
from eks_emulator.service_time import ServiceTime

from .conftest import SERIAL, UNIT, RawClient


@pytest.fixture
async def controller() -> AsyncIterator[Controller]:
    fleet = Fleet(FleetConfig(3, base_port=0, service_time=ServiceTime.fixed(0.0), seed=2))
    await fleet.start()
    yield Controller(fleet)
    await fleet.stop()


@pytest.fixture
async def http(controller: Controller) -> AsyncIterator[ControlServer]:
    server = ControlServer(controller)
    await server.start()
    yield server
    await server.stop()


async def call(port: int, method: str, path: str, body: object | bytes | None = None) -> tuple[int, dict]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), UNIT)
    data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    response = await asyncio.wait_for(reader.read(), UNIT)
    writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"Content-Type: application/json" in head
    return status, json.loads(payload)


async def test_insert_is_stamped_and_published(controller: Controller) -> None:
    seen: list[KeyEvent] = []
    unsubscribe = controller.subscribe(seen.append)
    client = await RawClient.connect(controller.fleet.device(1).port)
    assert await client.next_event() == KeyStatus(KeyState.OUT)
    before = time.monotonic_ns()
    event = controller.insert(1, "0011223344556677", user_data=b"00004711")
    assert before <= event.monotonic_ns <= time.monotonic_ns()
    assert (event.action, event.device_id, event.key_id, event.pushed) == (
        KeyAction.INSERT,
        1,
        SERIAL.hex().upper(),
        True,
    )
    assert await client.next_event() == KeyStatus(KeyState.IN)
    assert await client.request(READ_SERIAL) == ReadReply(116, SERIAL)
    assert await client.request(ReadRequest(0, 8)) == ReadReply(0, b"00004711")
    removed = controller.remove(1)
    assert removed is not None and removed.action is KeyAction.REMOVE
    assert controller.remove(1) is None
    random_key = controller.insert(2)
    assert random_key.pushed is False and len(random_key.key_id) == 16
    assert seen == [event, removed, random_key]
    assert controller.inserts() == [event, random_key]
    assert controller.inserts(since_seq=event.seq) == [random_key]
    assert len({e.event_id for e in seen}) == 3
    unsubscribe()
    controller.insert(0)
    assert len(seen) == 3
    await client.close()


async def test_in_process_faults_and_errors(controller: Controller) -> None:
    controller.inject_fault(0, Fault(FaultKind.SLOW))
    assert controller.device(0)["faults"] == ["slow"]
    assert controller.clear_faults(0) == [FaultKind.SLOW]
    assert controller.inject_fault_fraction(Fault(FaultKind.EK_OTHER), 0.5, seed=1) == controller.fleet.select(0.5, 1)
    with pytest.raises(KeyError, match="device 9 is not in this process"):
        controller.insert(9)
    with pytest.raises(ValueError, match="not hex"):
        controller.insert(0, "xyz")
    with pytest.raises(ValueError, match="8 bytes"):
        controller.insert(0, "0011")
    with pytest.raises(ValueError, match="down_s"):
        controller.reboot(0, -1)
    assert controller.metrics()["fleet"]["devices"] == 3  # type: ignore[index]


async def test_http_routes(http: ControlServer, controller: Controller) -> None:
    status, body = await call(http.port, "GET", "/devices")
    assert status == 200 and [d["id"] for d in body["devices"]] == [0, 1, 2]
    status, body = await call(http.port, "POST", "/devices/1/insert", {"serial": "00A1B2C3D4E5F607"})
    assert status == 200 and body["event"]["key_id"] == "00A1B2C3D4E5F607"
    assert body["event"]["action"] == "insert" and body["event"]["monotonic_ns"] > 0
    assert controller.fleet.device(1).key is not None
    status, body = await call(http.port, "GET", "/inserts?since=0")
    assert status == 200 and [e["device_id"] for e in body["inserts"]] == [1]
    status, body = await call(http.port, "POST", "/devices/1/remove")
    assert status == 200 and body["event"]["action"] == "remove"
    status, body = await call(http.port, "GET", "/events")
    assert [e["action"] for e in body["events"]] == ["insert", "remove"]
    status, body = await call(http.port, "POST", "/devices/2/faults", {"kind": "slow", "delay_s": 0.5})
    assert status == 200 and body["fault"]["delay_s"] == 0.5
    status, body = await call(http.port, "GET", "/devices/2")
    assert body["faults"] == ["slow"]
    status, body = await call(http.port, "DELETE", "/devices/2/faults?kind=slow")
    assert status == 200 and body["cleared"] == ["slow"]
    status, body = await call(http.port, "POST", "/faults", {"fraction": 1.0, "kind": "ek_other"})
    assert status == 200 and body["devices"] == [0, 1, 2]
    status, body = await call(http.port, "POST", "/devices/0/reboot", {"down_s": 0.05})
    assert status == 200 and not controller.fleet.device(0).listening
    status, body = await call(http.port, "GET", "/metrics")
    assert status == 200 and body["fleet"]["devices"] == 3 and body["devices"]["0"]["reboots"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/devices/1/insert", b"{not json", 400, "not valid JSON"),
        ("POST", "/devices/1/insert", {"serial": "12"}, 400, "8 bytes"),
        ("POST", "/devices/1/insert", {"serial": 12}, 400, "'serial' must be 16 hex digits"),
        ("POST", "/devices/1/insert", {"colour": "red"}, 400, "unknown field(s) colour"),
        ("POST", "/devices/1/faults", {"kind": "melt"}, 400, "kind 'melt' is not a fault"),
        ("POST", "/devices/1/faults", {"kind": "slow", "delay_s": "x"}, 400, "delay_s must be a number"),
        ("POST", "/devices/1/reboot", {"down_s": "soon"}, 400, "'down_s' must be a number"),
        ("POST", "/faults", {"kind": "fin"}, 400, "'fraction' is required"),
        ("POST", "/faults", {"kind": "fin", "fraction": 2}, 400, "fraction must be 0-1"),
        ("GET", "/devices/7", None, 404, "no device 7"),
        ("GET", "/devices/seven", None, 404, "not a number"),
        ("GET", "/nothing", None, 404, "no route"),
        ("DELETE", "/devices", None, 405, "use GET"),
        ("GET", "/inserts?since=x", None, 400, "'since' must be an integer"),
    ],
)
async def test_http_bad_requests(
    http: ControlServer, method: str, path: str, body: object, status: int, message: str
) -> None:
    got_status, got = await call(http.port, method, path, body)
    assert got_status == status
    assert message in got["error"]


async def test_http_malformed_request_line(http: ControlServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    writer.write(b"HELLO\r\n\r\n")
    response = await asyncio.wait_for(reader.read(), UNIT)
    assert response.startswith(b"HTTP/1.1 400 ") and b"malformed request line" in response
    writer.close()
