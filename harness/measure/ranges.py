"""Sorted, disjoint, half-open integer ranges ``[(start, end), ...]``: which seqs a stream received, owes, may get.

Every function takes and returns such lists (``union`` takes any list and sorts it).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

__all__ = ["Ranges", "contains", "intersect", "minus", "overlap", "size", "union"]

Ranges = list[tuple[int, int]]


def union(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """The ranges sorted, empty ones dropped, overlapping and adjacent ones joined."""
    out: Ranges = []
    for s, e in sorted(r for r in ranges if r[0] < r[1]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def overlap(a: Ranges, b: Ranges) -> int:
    """How many integers lie in both."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        total += max(0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return total


def intersect(a: Ranges, b: Ranges) -> Ranges:
    """The integers in both, as ranges."""
    return union((max(s, t), min(e, u)) for s, e in a for t, u in b if max(s, t) < min(e, u))


def minus(a: Ranges, b: Ranges) -> Ranges:
    """The integers of ``a`` not in ``b``."""
    out: Ranges = []
    for s, e in a:
        for t, u in b:
            if u <= s or t >= e:
                continue
            if t > s:
                out.append((s, t))
            s = max(s, u)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out


def size(ranges: Ranges) -> int:
    return sum(e - s for s, e in ranges)


def contains(ranges: Ranges, value: int) -> bool:
    i = bisect.bisect_right(ranges, (value, float("inf"))) - 1
    return i >= 0 and ranges[i][0] <= value < ranges[i][1]
