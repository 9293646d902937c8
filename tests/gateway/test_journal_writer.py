"""The punch journal is written on a thread of its own: a slow disk never stalls the reader connections, and a punch
is sent only once its journal line is written (reference_app/gateway/service.py)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from reference_app.gateway.journal import PunchJournal
from tests.conftest import TIMEOUT
from tests.gateway.conftest import SERIALS, Rig

pytestmark = pytest.mark.django_db(transaction=True)

MakeRig = Callable[..., Awaitable[Rig]]


async def test_a_punch_waits_for_its_journal_line_and_the_readers_do_not(
    make_rig: MakeRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = threading.Event()
    writers: set[str] = set()
    punched = PunchJournal.punched

    def slow_disk(journal: PunchJournal, event: Any) -> None:
        # A disk that takes its time (an fsync took up to half a second in a chaos run), on whichever thread writes.
        writers.add(threading.current_thread().name)
        written.wait(4 * TIMEOUT)
        punched(journal, event)

    monkeypatch.setattr(PunchJournal, "punched", slow_disk)
    rig = await make_rig(2, journal=tmp_path / "gw.journal")
    rig.control.insert(0, SERIALS[0])
    await rig.until(lambda: rig.service.pending == 1, "the punch taken")
    # While its journal line is not written the punch is not sent, and the event loop goes on: the other reader's
    # key is read (its punch waits for the journal too).
    rig.control.insert(1, SERIALS[1])
    await rig.until(lambda: rig.service.pending == 2, "the second reader's punch taken while the disk is slow")
    assert await rig.serials() == [] and rig.events.get("punches_sent", 0) == 0
    assert threading.main_thread().name not in writers and writers == {"punch-journal_0"}
    written.set()
    await rig.expect_serials([SERIALS[0], SERIALS[1]])
    await rig.until(lambda: rig.service.pending == 0, "both acknowledged")


async def test_a_journal_write_that_fails_is_said_and_the_punch_still_sent(
    make_rig: MakeRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(journal: PunchJournal, event: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PunchJournal, "punched", full_disk)
    rig = await make_rig(1, journal=tmp_path / "gw.journal")
    rig.control.insert(0, SERIALS[0])
    await rig.expect_serials([SERIALS[0]])
    assert rig.errors["journal_write_failed"] == 1
