"""CPU time of process trees and of the machine, read from procfs at nanosecond or tick resolution.

A server's CPU per delivered message is the gate's least noisy figure (on a shared 2-core runner its trial-to-trial
spread is a tenth of p99's), so it is read from each thread's ``schedstat`` (nanoseconds) rather than the 10 ms
ticks of ``/proc/PID/stat``: a short trial spends only a second or two of server CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

__all__ = ["MachineCpu", "machine_cpu", "tree_cpu_s"]


def _process_cpu_s(proc: psutil.Process) -> float:
    # Per-thread schedstat; a thread that exits mid-trial takes its time with it, which the servers the gate
    # measures (long-lived worker threads) do not do. Ticks where schedstat is unreadable.
    try:
        total_ns = 0
        for tid in os.listdir(f"/proc/{proc.pid}/task"):
            with open(f"/proc/{proc.pid}/task/{tid}/schedstat") as f:
                total_ns += int(f.read().split()[0])
        return total_ns / 1e9
    except (OSError, ValueError, IndexError):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)


def tree_cpu_s(pids: Iterable[int]) -> float | None:
    """CPU seconds used so far by the given processes and all their descendants; None if none of them exists."""
    seen: set[int] = set()
    total = 0.0
    found = False
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        found = True
        for proc in family:
            if proc.pid not in seen:
                seen.add(proc.pid)
                total += _process_cpu_s(proc)
    return total if found else None


@dataclass(frozen=True, slots=True)
class MachineCpu:
    """The machine's cumulative CPU ticks (``/proc/stat``'s first line)."""

    total: int
    idle: int
    steal: int

    def steal_percent_since(self, earlier: MachineCpu) -> float:
        """Share of the CPU time since ``earlier`` that the hypervisor gave to other guests, in percent."""
        elapsed = self.total - earlier.total
        return 100.0 * (self.steal - earlier.steal) / elapsed if elapsed > 0 else 0.0

    def busy_percent_since(self, earlier: MachineCpu) -> float:
        """Share of the CPU time since ``earlier`` that was not idle, in percent of all cores."""
        elapsed = self.total - earlier.total
        return 100.0 * (elapsed - (self.idle - earlier.idle)) / elapsed if elapsed > 0 else 0.0


def machine_cpu(stat_path: str = "/proc/stat") -> MachineCpu | None:
    """The machine's CPU ticks now; None where procfs has no such line (not Linux)."""
    try:
        with open(stat_path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already in user/nice.
    values = (values + [0] * 8)[:8]
    return MachineCpu(total=sum(values), idle=values[3] + values[4], steal=values[7])
