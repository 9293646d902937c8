"""The settle barrier: a process's users start sending only once their rooms have been joined.

Joining is not free: in the reference app each chat join sends a presence frame to the whole room, so the joins of
a 1,000-member room deliver half a million frames (:mod:`harness.measure.join_storm`). Sends that start while that
storm is still going measure the storm, not the fan-out. With ``--harness-warmup-from settle`` every user of a
process waits here after its connect attempt, and all of them are released together when:

* Locust has finished spawning (``spawning_complete``; on a worker, the master's word that every worker has), and
* every user of the process has ended its connect attempt (opened or failed), and
* at least the join presence frames its members must have read have come (``required_joins``), and
* no presence frame has been read in the process, and no connect attempt has ended, for ``quiet_s`` seconds.

The required joins are a lower bound the caller knows: in the reference app's chat a join is announced to every
member then in the room, the joiner included, so of any L members of one room in this process, the k-th of them to
join reads at least the L - k + 1 announcements of itself and of those of them who join after it: L(L + 1)/2 in
all, whoever else (in other processes) joins in between. Without it, a server too busy to send anything for
``quiet_s`` looked like a storm that had ended (a 1 s gap released 1,000-member rooms while most of their presence
frames were still to come).

If that has not happened ``timeout_s`` after spawning completed, the users are released anyway and the process
records that its storm did not settle. The rule is per process: rooms may span Locust workers, but a storm still
going sends presence to every member of the room, so every process holding a member hears it and keeps waiting.

The barrier is plain logic over a :class:`~harness.measure.join_storm.JoinStorm` and a clock the caller reads;
the runtime (:mod:`harness.load.runtime`) polls it from a greenlet. It imports neither locust nor gevent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from harness.measure.join_storm import JoinStorm

__all__ = ["DEFAULT_QUIET_S", "DEFAULT_TIMEOUT_S", "Release", "SettleBarrier"]

DEFAULT_QUIET_S: Final = 1.0
DEFAULT_TIMEOUT_S: Final = 120.0
_NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Release:
    """When the users were let send (``time.monotonic_ns()``), and whether the room was quiet by then."""

    at_ns: int
    settled: bool


class SettleBarrier:
    """Decides when one process's users may start sending (see the module's docstring).

    Args:
        quiet_s: seconds without a presence frame or a connect ending that make a room joined, > 0.
        timeout_s: seconds after spawning completed when the users are released anyway, > 0.

    Raises:
        ValueError: if a duration is not a finite number > 0.
    """

    def __init__(self, *, quiet_s: float = DEFAULT_QUIET_S, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        for name, value in (("quiet_s", quiet_s), ("timeout_s", timeout_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"the settle barrier needs {name} > 0 seconds, got {value!r}")
        self.quiet_ns = round(quiet_s * _NS_PER_S)
        self.timeout_ns = round(timeout_s * _NS_PER_S)
        self._users: int | None = None
        self._spawned_ns = 0
        self.release: Release | None = None

    def spawned(self, users: int, now_ns: int) -> None:
        """Spawning is complete and this process runs ``users`` users; the time-out counts from ``now_ns``."""
        if users < 0:
            raise ValueError(f"a process cannot run {users} users")
        self._users = users
        self._spawned_ns = now_ns

    def poll(self, storm: JoinStorm, now_ns: int, required_joins: int = 0) -> Release | None:
        """The release, once the process's room is joined or the time-out is over (recorded in ``storm``);
        ``required_joins``: the join presence frames that must have been read first (see the module's docstring)."""
        if self.release is not None:
            return self.release
        if self._users is None:
            return None
        last = max(self._spawned_ns, storm.last_connect_ns or 0, storm.last_presence_ns or 0)
        if storm.connects >= self._users and storm.joins >= required_joins and now_ns - last >= self.quiet_ns:
            self.release = Release(now_ns, settled=True)
        elif now_ns - self._spawned_ns >= self.timeout_ns:
            self.release = Release(now_ns, settled=False)
        else:
            return None
        storm.release(now_ns, settled=self.release.settled)
        return self.release

    def give_up(self, storm: JoinStorm, now_ns: int) -> None:
        """The test is stopping: a barrier that never released goes down in ``storm`` as not settled."""
        if self.release is None:
            self.release = Release(now_ns, settled=False)
            storm.settled = False
