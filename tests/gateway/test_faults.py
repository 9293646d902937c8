"""Every fault of the emulator's catalogue against gateway + worker + database (docs/eks.md#fault-catalogue).

Each scenario asserts the punches stored: exactly one per genuine insert, none from garbage or failed reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from eks_emulator.faults import Fault, FaultKind
from tests.conftest import TIMEOUT
from tests.gateway.conftest import FAST, FAST_BACKOFF, QUIET, SERIALS, Rig, open_fds

pytestmark = pytest.mark.django_db(transaction=True)

S0, S1 = SERIALS[0], SERIALS[1]
Scenario = Callable[[Rig], Awaitable[None]]


async def _punch_first(rig: Rig) -> None:
    rig.control.insert(0, S0)
    await rig.expect_serials([S0])


async def _swap_key(rig: Rig, expected: list[str]) -> None:
    """After recovery: pull whatever is in and insert S1, which must punch once."""
    await rig.service.wait_connected(timeout=TIMEOUT)
    rig.control.remove(0)
    rig.control.insert(0, S1)
    await rig.expect_serials(expected)


async def fin(rig: Rig) -> None:
    await _punch_first(rig)
    rig.control.inject_fault(0, Fault(FaultKind.FIN))
    await rig.until_error("eof")
    # The key is still in: the reconnect sees it again and must not punch it a second time.
    await _swap_key(rig, [S0, S1])
    assert rig.events.get("punches_debounced", 0) >= 1


async def rst(rig: Rig) -> None:
    await _punch_first(rig)
    rig.control.inject_fault(0, Fault(FaultKind.RST))
    await rig.until_error("reset")
    await _swap_key(rig, [S0, S1])


async def reboot(rig: Rig) -> None:
    await _punch_first(rig)
    loop = asyncio.get_running_loop()
    down_s = 0.5
    began = loop.time()
    rig.control.reboot(0, down_s=down_s, keep_key=True)
    await rig.until(lambda: rig.service.stats.connected == 0, "the reboot to drop the connection")
    await rig.until_error("refused")
    await rig.service.wait_connected(timeout=TIMEOUT)
    # Back within one backoff ceiling (plus a connect) after the reader listens again.
    assert loop.time() - began <= down_s + FAST_BACKOFF.max_s + FAST.connect_timeout_s
    await _swap_key(rig, [S0, S1])


async def blackhole(rig: Rig) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    rig.control.inject_fault(0, Fault(FaultKind.BLACKHOLE, duration_s=1.5))
    rig.control.insert(0, S0)  # not pushed: the reader is silent
    await rig.until_error("heartbeat_timeout")
    # A silent reader is declared down within the heartbeat bound (plus scheduling slack).
    assert loop.time() - began <= FAST.silence_bound_s + 0.5
    await rig.expect_serials([S0], timeout=2 * TIMEOUT)


async def flap(rig: Rig) -> None:
    await _punch_first(rig)
    rig.control.inject_fault(0, Fault(FaultKind.FLAP, down_s=0.15, up_s=0.3, cycles=3))
    await rig.until(lambda: not rig.fleet.devices[0].faults, "the flapping to end", 2 * TIMEOUT)
    await rig.service.wait_connected(timeout=TIMEOUT)
    assert rig.events["reconnects"] >= 3
    await _swap_key(rig, [S0, S1])


async def slow(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.SLOW, delay_s=FAST.heartbeat_timeout_s / 2))
    rig.control.insert(0, S0)
    await rig.expect_serials([S0])
    assert rig.errors.get("heartbeat_timeout", 0) == 0


async def split(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.SPLIT, gap_s=0.002))
    rig.control.insert(0, S0)
    await rig.expect_serials([S0])
    assert "disconnects" not in rig.events


async def coalesce(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.COALESCE))
    rig.control.insert(0, S0)
    await rig.expect_serials([S0])
    assert "disconnects" not in rig.events


async def _garbage(rig: Rig, fault: Fault, error: str) -> None:
    rig.control.inject_fault(0, fault)
    rig.control.insert(0, S0)
    await rig.until_error(error)
    await asyncio.sleep(QUIET)
    assert await rig.serials() == []
    rig.control.remove(0)
    rig.control.clear_faults(0)
    rig.control.insert(0, S1)
    await rig.expect_serials([S1])


async def bad_length(rig: Rig) -> None:
    await _garbage(rig, Fault(FaultKind.BAD_LENGTH), "malformed.length_mismatch")


async def unknown_command(rig: Rig) -> None:
    await _garbage(rig, Fault(FaultKind.UNKNOWN_COMMAND), "malformed.unknown_command")


async def garbage(rig: Rig) -> None:
    await _garbage(rig, Fault(FaultKind.GARBAGE, size=16), "malformed.unknown_command")


async def read_error(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.READ_ERROR, status=0x41))
    rig.control.insert(0, S0)
    await rig.until_error("read_failed")
    await asyncio.sleep(QUIET)
    assert await rig.serials() == []
    # The key is still in: once reads work again the same insert is read and punched, once.
    rig.control.clear_faults(0)
    await rig.expect_serials([S0])


async def pulled_mid_read(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.PULLED_MID_READ))
    rig.control.insert(0, S0)
    await rig.until_error("read_no_key")
    await asyncio.sleep(QUIET)
    assert await rig.serials() == []
    rig.control.insert(0, S1)
    await rig.expect_serials([S1])


async def ek_other(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.EK_OTHER))
    rig.control.insert(0, S0)
    await rig.until(lambda: rig.events.get("key_other", 0) >= 1, "Ek 03")
    await asyncio.sleep(QUIET)
    assert await rig.serials() == []
    rig.control.clear_faults(0)  # pushes the real state: Ek 01
    await rig.expect_serials([S0])


async def bounce(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.BOUNCE, gap_s=0.02, serial_hex=S0))
    await rig.expect_serials([S0])
    assert [e.key_id for e in rig.control.inserts()] == [S0, S0]
    assert rig.events.get("punches_debounced", 0) == 1


async def second_client(rig: Rig) -> None:
    rig.control.inject_fault(0, Fault(FaultKind.SECOND_CLIENT))
    await rig.until_error("busy")
    rig.control.insert(0, S0)
    await asyncio.sleep(QUIET)
    assert await rig.serials() == []
    rig.control.clear_faults(0)
    await rig.expect_serials([S0])


SCENARIOS: dict[FaultKind, Scenario] = {
    FaultKind.FIN: fin,
    FaultKind.RST: rst,
    FaultKind.REBOOT: reboot,
    FaultKind.BLACKHOLE: blackhole,
    FaultKind.FLAP: flap,
    FaultKind.SLOW: slow,
    FaultKind.SPLIT: split,
    FaultKind.COALESCE: coalesce,
    FaultKind.BAD_LENGTH: bad_length,
    FaultKind.UNKNOWN_COMMAND: unknown_command,
    FaultKind.GARBAGE: garbage,
    FaultKind.READ_ERROR: read_error,
    FaultKind.PULLED_MID_READ: pulled_mid_read,
    FaultKind.EK_OTHER: ek_other,
    FaultKind.BOUNCE: bounce,
    FaultKind.SECOND_CLIENT: second_client,
}


def test_every_fault_kind_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(FaultKind)


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind.value) for kind in FaultKind])
async def test_fault(make_rig: Callable[..., Awaitable[Rig]], kind: FaultKind) -> None:
    rig = await make_rig()
    await SCENARIOS[kind](rig)
    assert "internal" not in rig.errors


async def test_flapping_leaks_no_tasks_or_sockets(make_rig: Callable[..., Awaitable[Rig]]) -> None:
    rig = await make_rig(4)
    await asyncio.sleep(QUIET)
    tasks, fds = len(asyncio.all_tasks()), open_fds()
    for device_id in range(4):
        rig.control.inject_fault(device_id, Fault(FaultKind.FLAP, down_s=0.1, up_s=0.15, cycles=4))
    await rig.until(lambda: not any(d.faults for d in rig.fleet.devices.values()), "flapping to end", 2 * TIMEOUT)
    await rig.service.wait_connected(timeout=TIMEOUT)
    await asyncio.sleep(QUIET)
    assert rig.events["reconnects"] >= 4 * 4
    assert (len(asyncio.all_tasks()), open_fds()) == (tasks, fds)
