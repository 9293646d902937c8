"""The chaos run's supervisor restarts what dies on its own, and leaves alone what a kill window holds down."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.faults.injectors import FaultTargets, Supervised, injector_for
from harness.faults.supervisor import ProcessSupervisor
from harness.scenario.faults import FaultSpec
from harness.stack.processes import ManagedProcess


def _until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _supervised(tmp_path: Path, code: str) -> tuple[Supervised, list[ManagedProcess]]:
    processes: list[ManagedProcess] = []

    def start() -> list[ManagedProcess]:
        process = ManagedProcess("p", [sys.executable, "-c", code], tmp_path / "p.log").start()
        processes.append(process)
        return [process]

    start()
    return Supervised("p", current=lambda: processes[-1:], restart=start), processes


def test_a_process_that_exits_on_its_own_is_restarted_and_recorded(tmp_path: Path) -> None:
    target, processes = _supervised(tmp_path, "import time; time.sleep(60)")
    supervisor = ProcessSupervisor({"p": target}, poll_s=0.05).start()
    try:
        first = processes[0]
        first.send_signal(9)  # SIGKILL from outside: the process dies as a layer error makes runworker exit
        assert _until(lambda: len(processes) == 2 and processes[-1].alive())
    finally:
        supervisor.stop()
        for process in processes:
            process.stop()
    (restart,) = supervisor.restarts
    assert (restart.old_pid, restart.exit_code, restart.new_pids) == (first.pid, -9, (processes[1].pid,))


def test_a_process_that_keeps_dying_is_restarted_less_and_less_often(tmp_path: Path) -> None:
    target, processes = _supervised(tmp_path, "raise SystemExit(1)")
    supervisor = ProcessSupervisor({"p": target}, poll_s=0.05, max_delay_s=0.8).start()
    time.sleep(3.0)
    supervisor.stop()
    gaps = [b.monotonic_s - a.monotonic_s for a, b in zip(supervisor.restarts, supervisor.restarts[1:], strict=False)]
    # 0.1, 0.2, 0.4, 0.8, 0.8 ...: without the backoff it would restart every poll (about 60 times).
    assert 4 <= len(supervisor.restarts) <= 12
    assert gaps[-1] >= 0.7


def test_a_process_held_down_by_a_kill_window_stays_down_until_the_window_ends(tmp_path: Path) -> None:
    target, processes = _supervised(tmp_path, "import time; time.sleep(60)")
    supervisor = ProcessSupervisor({"p": target}, poll_s=0.05).start()
    injector = injector_for(FaultSpec(0, 1, "kill", "worker"), FaultTargets(supervised={"worker": target}))
    try:
        injector.begin()
        time.sleep(0.5)
        assert len(processes) == 1 and not processes[0].alive()
        injector.end()
        assert len(processes) == 2 and processes[1].alive()
        time.sleep(0.3)
    finally:
        supervisor.stop()
        for process in processes:
            process.stop()
    assert supervisor.restarts == [] and len(processes) == 2


def test_a_part_another_target_restarts_is_not_restarted_on_its_own_and_its_kill_holds_the_whole(
    tmp_path: Path,
) -> None:
    # The whole (a server of several processes) and its first part (one worker): the whole's restart brings back a
    # dead part, so the supervisor must not restart the part itself, nor the whole while a window holds the part.
    whole, whole_processes = _supervised(tmp_path, "import time; time.sleep(60)")
    part, part_processes = _supervised(tmp_path, "import time; time.sleep(60)")
    part.holds, part.watched, part.lock = (whole,), False, whole.lock
    supervisor = ProcessSupervisor({"server": whole, "server_worker": part}, poll_s=0.05).start()
    injector = injector_for(FaultSpec(0, 1, "kill", "server_worker"), FaultTargets(supervised={"server_worker": part}))
    try:
        injector.begin()
        assert whole.held
        whole_processes[0].send_signal(9)  # the whole dies too while the part's window holds it: left alone
        time.sleep(0.5)
        assert len(part_processes) == 1 and len(whole_processes) == 1
        injector.end()
        assert not whole.held and len(part_processes) == 2
        # Now the whole is watched again: its dead process is restarted; the part is never restarted on its own.
        assert _until(lambda: len(whole_processes) == 2)
        part_processes[-1].send_signal(9)
        time.sleep(0.3)
        assert len(part_processes) == 2
    finally:
        supervisor.stop()
        for process in (*whole_processes, *part_processes):
            process.stop()
