"""The gateway as a whole: no push on accept, mass reboot, shards, the status endpoint, the command."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from eks_emulator.faults import Fault, FaultKind
from eks_emulator.fleet import Shard
from reference_app.gateway.client import ClientConfig
from reference_app.gateway.service import select_shard
from reference_app.gateway.stats import ReaderTarget
from reference_app.gateway.status import StatusServer
from tests.conftest import TIMEOUT
from tests.gateway.conftest import FAST, FAST_BACKOFF, SERIALS, Rig

MakeRig = Callable[..., Awaitable[Rig]]


async def _http(port: int, request: bytes) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.django_db(transaction=True)
async def test_reader_without_push_on_accept_is_asked_for_its_state(make_rig: MakeRig) -> None:
    rig = await make_rig(2, push_on_accept=False)
    rig.control.insert(1, SERIALS[3])
    await rig.expect_serials([SERIALS[3]])
    punches = await rig.punches()
    assert punches == [(rig.terminals[1].pk, SERIALS[3])]


@pytest.mark.django_db(transaction=True)
async def test_mass_reboot_recovers_within_the_backoff_bound_and_punches_once(make_rig: MakeRig) -> None:
    rig = await make_rig(20)
    for device_id, serial in enumerate(SERIALS):
        rig.control.insert(device_id, serial)
    await rig.until(lambda: rig.service.stats.counters["punches_sent"] >= len(SERIALS), "the first punches")
    down_s = 0.5
    loop = asyncio.get_running_loop()
    began = loop.time()
    rig.control.inject_fault_fraction(Fault(FaultKind.REBOOT, down_s=down_s), 1.0)
    await rig.until(lambda: rig.service.stats.connected == 0, "every reader to go down")
    await rig.service.wait_connected(timeout=TIMEOUT)
    assert loop.time() - began <= down_s + FAST_BACKOFF.max_s + FAST.connect_timeout_s
    # The keys stayed in over the reboot: seen again, punched no second time.
    await rig.expect_serials(SERIALS)


def test_shard_splits_terminals_by_id_order_without_overlap() -> None:
    targets = [ReaderTarget(pk, f"t{pk}", "127.0.0.1", 1000 + pk) for pk in (9, 3, 5, 1, 7)]
    shards = [[t.terminal_id for t in select_shard(targets, Shard(i, 2))] for i in range(2)]
    assert shards == [[1, 5, 9], [3, 7]]


async def test_status_endpoint_serves_status_and_readers() -> None:
    from reference_app.gateway.stats import GatewayStats

    stats = GatewayStats(shard="1/2")
    stats.add_reader(ReaderTarget(4, "door", "127.0.0.1", 2444)).connected = True
    stats.count("punches", 3)
    stats.error("refused")
    server = StatusServer(stats, "127.0.0.1", 0)
    await server.start()
    try:
        status, body = await _http(server.port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200
        assert {k: body[k] for k in ("shard", "readers", "connected", "reconnects", "events", "errors")} == {
            "shard": "1/2",
            "readers": 1,
            "connected": 1,
            "reconnects": 0,
            "events": {"punches": 3},
            "errors": {"refused": 1},
        }
        status, body = await _http(server.port, b"GET /readers HTTP/1.1\r\n\r\n")
        assert (status, body["readers"][0]["name"], body["readers"][0]["connected"]) == (200, "door", True)
        assert (await _http(server.port, b"GET /nope HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await _http(server.port, b"POST /status HTTP/1.1\r\n\r\n"))[0] == 405
        assert (await _http(server.port, b"nonsense\r\n\r\n"))[0] == 400
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("heartbeat_s", 0.0, "--heartbeat-s must be a number > 0"),
        ("heartbeat_misses", 0, "--heartbeat-misses must be >= 1"),
        ("debounce_s", -1.0, "--debounce-s must be a number >= 0"),
        ("read_attempts", 0, "--read-attempts must be >= 1"),
    ],
)
def test_bad_client_config_names_the_flag(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientConfig(**{field: value})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shard", "2/2"], "shard must be i/n with 0 <= i < n"),
        (["--shard", "two"], "shard must look like i/n"),
        (["--heartbeat-s", "soon"], "expected a number of seconds"),
        (["--backoff-base-s", "5", "--backoff-max-s", "1"], "backoff maximum must be a number >= the base"),
        (["--status-port", "70000"], "--status-port must be 0-65535"),
        ([], "has no terminals to serve"),
    ],
)
def test_command_refuses_bad_flags_with_a_clear_error(argv: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("eks_gateway", *argv)


@pytest.mark.django_db(transaction=True)
async def test_heartbeat_timeout_longer_than_the_period_waits_instead_of_spinning(make_rig: MakeRig) -> None:
    client = ClientConfig(heartbeat_s=0.05, heartbeat_timeout_s=0.4, heartbeat_misses=2, connect_timeout_s=1.0)
    rig = await make_rig(client=client)
    cpu = time.process_time()
    rig.control.inject_fault(0, Fault(FaultKind.BLACKHOLE))
    await rig.until_error("heartbeat_timeout")
    # Detection takes about 0.85 s of wall time; a loop polling a past deadline would burn all of it as CPU.
    assert time.process_time() - cpu < 0.5
