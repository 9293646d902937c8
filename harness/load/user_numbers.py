"""How Locust users are numbered across worker processes.

Kept apart from :mod:`harness.load.users` because that module imports Locust, which monkey-patches the
standard library with gevent on import.
"""

from __future__ import annotations

__all__ = ["user_index"]


def user_index(local: int, worker_index: int, worker_count: int) -> int:
    """A user's number across all Locust workers, from its number in its own worker.

    Users pick their account, room, terminal and URL by this number, so it must be unique across workers and,
    for rooms to get the members the scenario asks for, dense. Locust spreads users evenly over the workers
    connected at the start, so interleaving (``local × count + worker``) is both. A worker that joined after the
    start (its index is not below the count the master sent) numbers its users from ``worker_index × 10⁶``
    instead, apart from everyone else's numbers.
    """
    if 0 <= worker_index < worker_count:
        return local * worker_count + worker_index
    return worker_index * 1_000_000 + local
