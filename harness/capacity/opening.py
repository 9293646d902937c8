"""How fast a search opens its trials' connections.

Opening is warm-up: a trial judges the sockets it holds once every one is open and its joins have settled, not the
rate they were opened at. A fixed rate serves neither end of a search:

- too slow for a server that takes handshakes faster: at the scenario's 250 a second, a trial of 8,000 sockets
  spends 32 of its ~47 s opening them, and a search repeats that for every trial;
- too fast for one that cannot: one uvicorn worker on Redis answered 1,000 handshakes opened at 250 a second with
  a connect p50 of 1.3 s (each join reads the session and joins a room), and at 4,000 sockets the queue passed the
  clients' 10 s connect time-out: the search then measured how fast sockets can be opened, not how many are held.

So the rate follows the server: after a trial whose handshakes were answered as they came (none failed, connect p99
within :data:`KEPT_UP_MS`) the next opens twice as fast, up to :data:`MAX_FACTOR` times the scenario's rate; a
trial that failed only because connects failed (every other predicate held), or in which most connects failed, is
run again at half the rate, down
to the scenario's rate divided by :data:`MIN_DIVISOR` (only the run that opened without failures, or the one at
that floor, is judged; the others are kept in the document), and the search never opens faster than that half
again. A trial whose connects fail at the floor fails on ``connections``: the server does not take the sockets
however slowly they come. A trial that failed on more than its connects keeps its verdict and teaches nothing
about opening: the server was past its capacity with the sockets it had (one uvicorn worker at 8,000 sockets lost
703 connects at 125/s with a p99 of 1.3 s, and opened at 62/s it failed with a p99 of 1.7 s) — unless most of its
connects failed: then it held less than half its load, and what its other predicates measured was the opening's
storm, not the load (two Daphne processes on Redis lost 3,874 of 4,000 handshakes at 250/s, and the 126 sockets
open had a p99 of 8.1 s with the servers at 75 % of a core, busy refusing the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["KEPT_UP_MS", "MAX_FACTOR", "MIN_DIVISOR", "MOSTLY_FAILED", "Opening"]

#: Connect p99 (ms) within which the server answered the handshakes as they came: a chat join on an idle server
#: takes a few milliseconds (session read, group add, presence), so a p99 above this is a queue of handshakes.
KEPT_UP_MS: Final = 100.0
#: The fastest opening, as a multiple of the scenario's spawn rate: the generator's processes pay for every
#: handshake too, and they share this machine's cores with the server.
MAX_FACTOR: Final = 4.0
#: The slowest opening is the scenario's spawn rate divided by this (250/s: 62.5/s, 2 minutes for 8,000).
MIN_DIVISOR: Final = 4.0
#: A trial in which more than this share of the connects failed held too little of its load for its other
#: predicates to speak for it.
MOSTLY_FAILED: Final = 0.5


@dataclass
class Opening:
    """The spawn rate of the next trial (connections per second, all generator processes together).

    Attributes:
        base: the scenario's spawn rate, where a search starts.
        adaptive: False keeps ``base`` for every trial and never runs one again (``--spawn-rate`` was given).
        rate: the next trial's rate.
        ceiling: the fastest the search may still open: half the last rate at which connects failed.
        reopenings: trials run again at a lower rate.
    """

    base: float
    adaptive: bool = True
    rate: float = field(init=False)
    ceiling: float = field(init=False)
    reopenings: int = 0

    def __post_init__(self) -> None:
        if not self.base > 0:
            raise ValueError(f"the spawn rate must be > 0, got {self.base!r}")
        self.rate = self.base
        self.ceiling = self.maximum

    @property
    def maximum(self) -> float:
        return self.base * MAX_FACTOR

    @property
    def floor(self) -> float:
        return self.base / MIN_DIVISOR

    def after(
        self,
        *,
        opened_at: float,
        connections: int,
        connect_failures: int,
        connect_p99_ms: float | None,
        others_held: bool,
    ) -> bool:
        """Learn from a trial that opened ``connections`` at ``opened_at``; True when it must be run again at
        :attr:`rate`.

        ``others_held``: every predicate but ``connections`` held.
        """
        if not self.adaptive:
            return False
        if connect_failures:
            storm = connect_failures > MOSTLY_FAILED * connections
            if opened_at <= self.floor or not (others_held or storm):
                return False
            self.ceiling = self.rate = max(self.floor, min(self.ceiling, opened_at / 2))
            self.reopenings += 1
            return True
        if connect_p99_ms is not None and connect_p99_ms <= KEPT_UP_MS:
            self.rate = min(self.ceiling, opened_at * 2)
        else:
            self.rate = opened_at
        return False
