"""Child processes that always end: own process group, killed with their children, and with the harness if it dies."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import psutil

__all__ = ["ChildProcess", "ManagedProcess", "ProcessError", "SignalledProcess", "copy_fd_of"]


class ProcessError(RuntimeError):
    pass


class SignalledProcess(Protocol):
    """What a fault acts on: a process the harness started, or one a server started itself (Uvicorn's workers)."""

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def returncode(self) -> int | None: ...

    def send_signal(self, sig: signal.Signals) -> None: ...

    def wait_exit(self, timeout: float) -> int | None: ...


@dataclass
class ChildProcess:
    """A process another process started (a Uvicorn worker under its master): signalled, watched, never restarted
    by the harness. Its exit code is its parent's to read, so :meth:`returncode` and :meth:`wait_exit` cannot say it.
    """

    name: str
    process: psutil.Process

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def alive(self) -> bool:
        try:
            return bool(self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    def returncode(self) -> int | None:
        return None

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig``; a process already gone (its parent replaced it) is an error, not a no-op."""
        try:
            self.process.send_signal(sig)
        except psutil.NoSuchProcess:
            raise ProcessLookupError(f"{self.name} pid {self.pid} is gone (its parent may have replaced it)") from None

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for it to end; None whether it ended or not (see :meth:`alive`)."""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        return None


#: pidfd_getfd(2) (Linux >= 5.6): the same number on every architecture, from the unified syscall table.
_SYS_PIDFD_GETFD = 438


def copy_fd_of(pid: int, fd: int) -> int:
    """A new descriptor of ours for descriptor ``fd`` of process ``pid`` (pidfd_getfd): how a Daphne that died is
    started again on the listening socket its siblings still share, which the harness no longer holds.

    Raises:
        OSError: the kernel refused (too old, or not permitted to look into ``pid``).
    """
    pidfd = os.pidfd_open(pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        new = int(libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0))
        if new < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"pidfd_getfd of fd {fd} in pid {pid}: {os.strerror(err)}")
        return new
    finally:
        os.close(pidfd)


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM if the harness is killed outright (SIGKILL, OOM), so nothing is orphaned.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: a process restarted by a
# fault schedule's thread would be killed when that thread finishes. Children started off the main thread are
# therefore forked from this one thread, which lives as long as the harness.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-spawner")


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    pass_fds: tuple[int, ...] = ()
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        if threading.current_thread() is not threading.main_thread():
            _SPAWNER.submit(self._spawn).result()
        else:
            self._spawn()
        return self

    def _spawn(self) -> None:
        assert self._log is not None
        try:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                pass_fds=self.pass_fds,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl, safe between fork and exec
            )
        except OSError as exc:
            self._log.close()
            raise ProcessError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from None

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise ProcessError(f"{self.name} was never started")
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def wait_listening(self, port: int, *, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
        """Return once ``host:port`` accepts connections; raise ProcessError if this process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ProcessError(f"{self.name} exited during start-up; its log ends with:\n{self.tail()}")
            try:
                with socket.create_connection((host, port), timeout=0.3):
                    return
            except OSError:
                time.sleep(0.05)
        raise ProcessError(f"{self.name} did not listen on {host}:{port} within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process itself (not its group): a fault aimed at one process."""
        if self.popen is None:
            raise ProcessError(f"{self.name} was never started")
        try:
            os.kill(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the process to end; its exit code, or None if it is still running."""
        if self.popen is None:
            raise ProcessError(f"{self.name} was never started")
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after ``timeout``."""
        if self.popen is not None:
            if self.popen.poll() is None:
                self._signal_group(signal.SIGTERM)
                # A process a fault window left stopped (SIGSTOP) only acts on its TERM once continued.
                self._signal_group(signal.SIGCONT)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.popen.wait(timeout)
            # Workers of a supervisor (uvicorn --workers) may outlive it by a moment; the group is ours to clear.
            self._signal_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
