"""End-to-end acknowledged punches: a punch lost between gateway and database is sent again, stored once, and a
gateway restart loses none (reference_app/gateway/service.py, docs/eks.md#end-to-end-acknowledgement)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from django.db import OperationalError

from reference_app.timeclock.events import PunchEvent
from reference_app.timeclock.punching import PunchResult, record_punch
from tests.gateway.conftest import SERIALS, Rig

pytestmark = pytest.mark.django_db(transaction=True)

MakeRig = Callable[..., Awaitable[Rig]]
S0, S1, S2 = SERIALS[0], SERIALS[1], SERIALS[2]
#: Short enough for a test, longer than a loaded machine takes to store a punch.
ACK_S = 0.5


async def test_a_punch_is_kept_until_the_worker_acknowledges_it(make_rig: MakeRig) -> None:
    rig = await make_rig(1, ack_timeout_s=ACK_S)
    rig.control.insert(0, S0)
    await rig.expect_serials([S0])
    await rig.until(lambda: rig.service.pending == 0, "the acknowledgement")
    assert rig.events["punches_acked"] == 1 and rig.events["ack.recorded"] == 1
    assert rig.events.get("punches_resent", 0) == 0


async def test_a_delivery_lost_before_the_worker_is_sent_again_after_the_time_out(make_rig: MakeRig) -> None:
    rig = await make_rig(1, ack_timeout_s=ACK_S)
    rig.tap.drop_deliveries = 1
    rig.control.insert(0, S0)
    await rig.expect_serials([S0])
    assert rig.events["punches_resent"] >= 1 and rig.events["ack_timeouts"] >= 1
    assert rig.service.pending == 0


async def test_a_lost_acknowledgement_sends_again_and_the_replay_stores_nothing(make_rig: MakeRig) -> None:
    rig = await make_rig(1, ack_timeout_s=ACK_S)
    rig.tap.drop_acks = 1
    rig.control.insert(0, S0)
    await rig.until(lambda: rig.events.get("ack.duplicate", 0) == 1, "the replay's acknowledgement")
    await rig.expect_serials([S0])
    assert rig.service.pending == 0


async def test_punches_pending_when_the_gateway_stops_are_stored_by_the_next_one(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    rig = await make_rig(3, ack_timeout_s=ACK_S, journal=tmp_path / "gw.journal")
    # The worker channel holds the punches undelivered while the gateway goes down.
    rig.tap.paused.clear()
    for reader, serial in enumerate([S0, S1, S2]):
        rig.control.insert(reader, serial)
    await rig.until(lambda: rig.service.pending == 3, "three punches pending")
    # S2 leaves its reader while the gateway is away; S0 and S1 stay in.
    await rig.restart()
    rig.control.remove(2)
    # What reached the old gateway's channel goes nowhere now: only the journal can bring those punches back.
    rig.tap.drop_deliveries = 3
    rig.tap.paused.set()
    assert rig.events["punches_recovered"] == 3
    await rig.expect_serials([S0, S1, S2])
    # The keys still in were seen again by the new gateway: the journal said they were punched already.
    assert rig.events["punches_debounced"] >= 2
    assert rig.events.get("punches", 0) == 0
    await rig.until(lambda: rig.service.pending == 0, "every recovered punch acknowledged")


async def test_without_a_journal_a_restart_loses_what_was_pending_and_punches_keys_still_in_again(
    make_rig: MakeRig,
) -> None:
    # The contrast that shows the journal is what keeps them: the same steps without one.
    rig = await make_rig(2, ack_timeout_s=ACK_S)
    rig.tap.paused.clear()
    rig.control.insert(0, S0)
    await rig.until(lambda: rig.service.pending == 1, "a punch pending")
    await rig.restart()
    rig.tap.drop_deliveries = 1
    rig.tap.paused.set()
    # The new gateway knows nothing of S0: it finds the key in its reader and punches it as a new insert.
    await rig.expect_serials([S0])
    assert rig.events.get("punches_recovered", 0) == 0 and rig.events["punches"] == 1


async def test_a_database_error_leaves_the_punch_unacknowledged_and_the_worker_up(
    make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [1]

    def flaky(event: PunchEvent) -> PunchResult:
        if failures:
            failures.pop()
            raise OperationalError("database is locked")
        return record_punch(event)

    monkeypatch.setattr("reference_app.timeclock.consumers.record_punch", flaky)
    rig = await make_rig(1, ack_timeout_s=ACK_S)
    rig.control.insert(0, S0)
    await rig.expect_serials([S0])
    assert not failures and rig.events["punches_resent"] >= 1
