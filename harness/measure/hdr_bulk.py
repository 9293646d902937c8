"""Bulk operations on hdrh histograms, at a few times the speed of hdrh's own pure-Python loops.

hdrh records one value per call (about 1.5 µs) and reads a histogram by walking all of its buckets (17,408 for
1 µs to 60 s at 3 digits) in Python. A load generator records several latencies per delivered message and the
live figures read histograms every second, so these functions work on hdrh's counts array directly: values are
added in bulk with the bucket index computed once for every histogram, and empty buckets are skipped 64 at a time
by comparing bytes. They give exactly hdrh's answers (tests/harness/test_latency.py checks them against hdrh).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

__all__ = ["add_in_range", "bucket_index", "nonzero_counts", "percentiles_of", "tally_percentile"]

#: Buckets compared with zeros at once when looking for the non-empty ones.
_ZERO_BLOCK_BUCKETS: Final = 64


def add_in_range(values_ns: Iterable[int], hists: Sequence[Any], tallies: Sequence[dict[int, int]] = ()) -> None:
    """Add every value (ns, each within the histograms' range) to every hdrh histogram (all of one configuration).

    hdrh's record_value costs about 1.5 µs in pure Python and a generator records several latencies per
    delivered message, so samples are added here in bulk with HdrHistogram._counts_index_for (unit magnitude 0)
    inlined, and each value's bucket is found once however many histograms it goes to. ``tallies`` get the same
    bucket indexes counted in a dict: a sparse histogram for a short window (a second), which costs nothing to
    create and is read without scanning every bucket.
    """
    h = hists[0]
    mask = h.sub_bucket_mask
    magnitude = h.sub_bucket_half_count_magnitude
    half = h.sub_bucket_half_count
    shift = magnitude + 1
    low, high = sys.maxsize, -1
    n = 0
    # One recorder (every _fold) gets a loop of its own: without the inner loop over histograms it cost
    # 272-296 ns per value against 309-398 ns (1024 values, 200 rounds, this machine).
    if len(hists) == 1 and not tallies:
        counts = h.counts
        for value_ns in values_ns:
            value = (value_ns + 500) // 1000
            bucket = (value | mask).bit_length() - shift
            counts[((bucket + 1) << magnitude) + (value >> bucket) - half] += 1
            if value > high:
                high = value
            if value < low:
                low = value
            n += 1
    else:
        every_counts = [hist.counts for hist in hists]
        for value_ns in values_ns:
            value = (value_ns + 500) // 1000
            bucket = (value | mask).bit_length() - shift
            index = ((bucket + 1) << magnitude) + (value >> bucket) - half
            for counts in every_counts:
                counts[index] += 1
            for tally in tallies:
                tally[index] = tally.get(index, 0) + 1
            if value > high:
                high = value
            if value < low:
                low = value
            n += 1
    if not n:
        return
    for hist in hists:
        hist.total_count += n
        if low < hist.min_value:
            hist.min_value = low
        if high > hist.max_value:
            hist.max_value = high


def nonzero_counts(hist: Any) -> Iterator[tuple[int, int]]:
    """``(bucket index, count)`` of every non-empty bucket of an hdrh histogram, in index order."""
    counts = hist.counts
    n = hist.counts_len
    raw = memoryview(counts).cast("B")
    width = len(raw) // n if n else 8
    block = _ZERO_BLOCK_BUCKETS
    zero = bytes(width * block)
    for start in range(0, n, block):
        end = min(n, start + block)
        if raw[start * width : end * width] == zero[: (end - start) * width]:
            continue
        for index in range(start, end):
            c = counts[index]
            if c:
                yield index, int(c)


def percentiles_of(
    hist: Any, buckets: Iterable[tuple[int, int]], total_count: int, percentiles: Sequence[float]
) -> dict[float, int]:
    targets = [(p, max(int((min(p, 100.0) * total_count / 100) + 0.5), 1)) for p in sorted(set(percentiles))]
    result: dict[float, int] = {}
    i = 0
    running = 0
    for index, c in buckets:
        running += c
        while i < len(targets) and running >= targets[i][1]:
            p = targets[i][0]
            value = hist.get_value_from_index(index)
            result[p] = int(hist.get_highest_equivalent_value(value) if p else hist.get_lowest_equivalent_value(value))
            i += 1
        if i == len(targets):
            break
    return result


def bucket_index(hist: Any, value_ns: int) -> int:
    """The bucket of ``value_ns`` (rounded to µs) in histograms configured as ``hist``, clamped to the first and last
    bucket: a tally counts a negative duration at 0 and one beyond the range in the last bucket, so it is never
    left out of a percentile."""
    value = min(max(0, (value_ns + 500) // 1000), int(hist.highest_trackable_value))
    bucket = (value | hist.sub_bucket_mask).bit_length() - (hist.sub_bucket_half_count_magnitude + 1)
    return int(((bucket + 1) << hist.sub_bucket_half_count_magnitude) + (value >> bucket) - hist.sub_bucket_half_count)


def tally_percentile(tally: Mapping[int, int], percentile: float, hist: Any) -> int | None:
    """The value at ``percentile`` of a ``{bucket index: count}`` tally of buckets configured as ``hist``.

    hdrh's answer (see :func:`percentiles_of`), found from the top: for a high percentile only the few buckets above
    it are visited, after one sort of the indexes at C speed. None for an empty tally.
    """
    total = sum(tally.values())
    if not total:
        return None
    target = max(int((min(percentile, 100.0) * total / 100) + 0.5), 1)
    # The answer is the lowest bucket whose running total from below reaches the target, i.e. the lowest bucket
    # with at most total - target samples above it.
    allowed_above = total - target
    above = 0
    index = -1
    for index in sorted(tally, reverse=True):
        count = tally[index]
        if above + count > allowed_above:
            break
        above += count
    value = hist.get_value_from_index(index)
    return int(hist.get_highest_equivalent_value(value) if percentile else hist.get_lowest_equivalent_value(value))
