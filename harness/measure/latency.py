"""Latency recording on HDR histograms, in integer microseconds.

Every latency the harness reports (round trip, fan-out, connect, service time,
response time, ...) goes through a :class:`LatencyRecorder`. It wraps
``hdrh.histogram.HdrHistogram`` with a fixed configuration (lowest trackable
value 1 µs, 3 significant digits, configurable highest trackable value) and adds
what the bare histogram lacks for a load harness:

* values above the highest trackable value are *counted* (``out_of_range``,
  with the largest such value seen) instead of being dropped, because
  ``HdrHistogram.record_value`` only returns ``False`` for them;
* negative durations (clock misuse, cross-host skew) are clamped to 0 and
  counted as ``negative`` anomalies;
* an exact merge that does not depend on hdrh's own min/max tracking;
* a JSON-safe transport form (base64 compressed HDR "histoblob" plus the
  side counters) for Locust's ``report_to_master``/``worker_report`` events;
* the standard ``.hgrm`` percentile-distribution text.

:class:`~harness.measure.metric_set.MetricSet` groups recorders by metric name so that one worker report carries
all metrics at once.

This module must stay importable from gevent (Locust) and asyncio processes
alike, so it imports neither.
"""

from __future__ import annotations

import binascii
import math
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from hdrh.codec import HdrCookieException, HdrLengthException  # type: ignore[import-untyped]
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from harness.measure.hdr_bulk import add_in_range, bucket_index, nonzero_counts, percentiles_of, tally_percentile

__all__ = [
    "DEFAULT_HIGHEST_US",
    "DEFAULT_SIGNIFICANT_FIGURES",
    "KNOWN_METRICS",
    "LOWEST_US",
    "HistogramDecodeError",
    "LatencyRecorder",
    "LatencySummary",
    "buckets_percentile",
    "ns_to_us",
]

LOWEST_US: Final = 1
DEFAULT_HIGHEST_US: Final = 60_000_000
DEFAULT_SIGNIFICANT_FIGURES: Final = 3

#: Metric names used by the harness scenarios (see docs/measurement.md).
#: :class:`MetricSet` accepts any name; these are listed so reports and the
#: result schema agree on spelling.
KNOWN_METRICS: Final = (
    "round_trip",
    "fanout",
    "connect",
    "service_time",
    "response_time",
    "send_lag",
    "eks_insert_to_kiosk",
)

#: Samples a recorder buffers before folding them into its histogram (see :meth:`LatencyRecorder.record_ns`).
_FOLD_AT: Final = 1024

# Version of the dict produced by LatencyRecorder.to_dict / MetricSet.to_dict.
# History: 1 = first version.
_WIRE_VERSION: Final = 1


class HistogramDecodeError(ValueError):
    """An encoded histogram or recorder dict could not be decoded."""


def ns_to_us(value_ns: int) -> int:
    """Convert nanoseconds to whole microseconds, rounding half away from zero.

    Integer arithmetic keeps the conversion exact for any ``int`` (floats lose
    nanoseconds above ~104 days of monotonic clock).
    """
    if value_ns >= 0:
        return (value_ns + 500) // 1000
    return -((-value_ns + 500) // 1000)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Summary statistics of one recorder, all values in microseconds.

    Percentiles and min/max are HDR bucket values: within 0.1 % of the true
    sample (3 significant digits). ``count`` is the number of samples in the
    histogram; samples counted in ``out_of_range`` are *not* in it, so every
    percentile is computed without them and a non-zero ``out_of_range`` makes
    the upper percentiles an underestimate.

    Attributes:
        count: samples recorded in the histogram.
        min: lowest recorded value (lowest equivalent value of its bucket).
        mean: mean over bucket midpoints.
        p50, p90, p99, p99_9, p99_99: value at that percentile (highest
            equivalent value of the bucket, as HdrHistogram reports it).
        max: highest recorded value (highest equivalent value of its bucket).
        out_of_range: samples above the highest trackable value, not recorded.
        max_out_of_range: largest out-of-range sample seen (0 if none), exact.
        negative: samples that were negative and recorded as 0.
        unit: always ``"us"``.
    """

    count: int
    min: int
    mean: float
    p50: int
    p90: int
    p99: int
    p99_9: int
    p99_99: int
    max: int
    out_of_range: int
    max_out_of_range: int
    negative: int
    unit: str = "us"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict with the field names of the result schema."""
        return asdict(self)


_SUMMARY_PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9, 99.99)


def buckets_percentile(buckets: Mapping[int, int], percentile: float, *, like: LatencyRecorder) -> int | None:
    """The value (µs) at ``percentile`` of bucket counts (a tally, or added-up :meth:`LatencyRecorder.nonzero_buckets`)
    of recorders configured as ``like``; None without samples. The same answer as a recorder holding those samples."""
    return tally_percentile(buckets, percentile, like._hist)


class LatencyRecorder:
    """An HDR histogram of microsecond latencies plus anomaly counters.

    Args:
        highest_trackable_us: largest value the histogram can hold; larger
            samples are counted in :attr:`out_of_range`. Must be >= 2.
        significant_figures: value precision, 1..5 (3 = 0.1 % resolution).

    Raises:
        ValueError: if an argument is outside the range given above.
    """

    __slots__ = (
        "_h",
        "_pending",
        "_fast_limit_ns",
        "_highest_us",
        "_sig",
        "out_of_range",
        "max_out_of_range",
        "negative",
    )

    def __init__(
        self,
        *,
        highest_trackable_us: int = DEFAULT_HIGHEST_US,
        significant_figures: int = DEFAULT_SIGNIFICANT_FIGURES,
    ) -> None:
        if isinstance(highest_trackable_us, bool) or not isinstance(highest_trackable_us, int):
            raise ValueError(f"highest_trackable_us must be an int, got {highest_trackable_us!r}")
        if highest_trackable_us < 2 * LOWEST_US:
            raise ValueError(f"highest_trackable_us must be >= {2 * LOWEST_US}, got {highest_trackable_us}")
        if not 1 <= significant_figures <= 5:
            raise ValueError(f"significant_figures must be in 1..5, got {significant_figures}")
        self._highest_us = highest_trackable_us
        self._sig = significant_figures
        self._h: Any = HdrHistogram(LOWEST_US, highest_trackable_us, significant_figures)
        #: In-range nanosecond samples not yet folded into ``_h``.
        self._pending: list[int] = []
        # The largest nanosecond value that rounds to at most highest_trackable_us.
        self._fast_limit_ns = highest_trackable_us * 1000 + 499
        self.out_of_range = 0
        self.max_out_of_range = 0
        self.negative = 0

    # -- configuration -------------------------------------------------
    @property
    def highest_trackable_us(self) -> int:
        """Largest value recorded in the histogram; larger ones are out of range."""
        return self._highest_us

    @property
    def significant_figures(self) -> int:
        """Number of significant decimal digits kept per value."""
        return self._sig

    @property
    def _hist(self) -> Any:
        """The HDR histogram with every buffered sample folded in; all reads go through here."""
        if self._pending:
            self._fold()
        return self._h

    def _fold(self) -> None:
        add_in_range(self._pending, (self._h,))
        self._pending.clear()

    # -- recording -----------------------------------------------------
    def record_us(self, value_us: int, count: int = 1) -> bool:
        """Record ``count`` samples of ``value_us`` microseconds.

        Returns:
            True if the samples went into the histogram, False if they were
            counted as out of range instead. Negative values are recorded as 0
            (and counted in :attr:`negative`), so they return True.

        Raises:
            ValueError: if ``count`` is not a positive int.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        value = int(value_us)
        if value < 0:
            self.negative += count
            value = 0
        # hdrh accepts values up to the top of the last bucket, which is above
        # the configured limit; checking the limit here keeps "out of range"
        # independent of bucket geometry.
        if value > self._highest_us or not self._hist.record_value(value, count):
            self.out_of_range += count
            self.max_out_of_range = max(self.max_out_of_range, value)
            return False
        return True

    def record_ns(self, value_ns: int, count: int = 1) -> bool:
        """Record a duration given in nanoseconds (e.g. a ``time.monotonic_ns`` difference).

        The value is rounded to the nearest microsecond (:func:`ns_to_us`). Any
        negative duration, even one that rounds to 0 µs, counts as
        :attr:`negative`: it means the two timestamps are not comparable.
        Single in-range samples are buffered and folded into the histogram in
        batches (on the next read, or every 1024 samples); nothing reads the
        histogram without folding first.
        """
        if count == 1 and 0 <= value_ns <= self._fast_limit_ns:
            pending = self._pending
            pending.append(value_ns)
            if len(pending) >= _FOLD_AT:
                self._fold()
            return True
        if value_ns < 0:
            return self.record_us(-1, count)
        return self.record_us(ns_to_us(value_ns), count)

    def record_many_ns(
        self, values_ns: Sequence[int], *also: LatencyRecorder, tallies: Sequence[dict[int, int]] = ()
    ) -> None:
        """:meth:`record_ns` for each of ``values_ns``, here and in every recorder of ``also``.

        For callers that buffer samples themselves and record the same values in several histograms: each
        value's bucket is found once for all of them. ``also`` must have this recorder's configuration.
        ``tallies`` (``{bucket index: count}`` dicts, see :meth:`tally`) count the values too.

        Raises:
            ValueError: if a recorder of ``also`` has another configuration.
        """
        recorders = (self, *also)
        for other in also:
            self._check_compatible(other)
        if not values_ns:
            return
        if min(values_ns) >= 0 and max(values_ns) <= self._fast_limit_ns:
            add_in_range(values_ns, [r._h for r in recorders], tallies)
            return
        for recorder in recorders:
            for value_ns in values_ns:
                recorder.record_ns(value_ns)
        for tally in tallies:
            for value_ns in values_ns:
                self.tally(tally, value_ns)

    def tally(self, tally: dict[int, int], value_ns: int) -> None:
        """Count ``value_ns`` in ``tally``, a ``{bucket index: count}`` dict of this recorder's buckets.

        A tally is a sparse histogram for a short window (a second of the time series): it costs nothing to
        create, merges by adding counts, and :func:`buckets_percentile` reads it. Negative values count at 0 and
        values beyond the range in the last bucket.
        """
        index = bucket_index(self._h, value_ns)
        tally[index] = tally.get(index, 0) + 1

    # -- merging -------------------------------------------------------
    def _check_compatible(self, other: LatencyRecorder) -> None:
        if (self._highest_us, self._sig) != (other._highest_us, other._sig):
            raise ValueError(
                "cannot merge recorders with different configurations: "
                f"(highest_trackable_us={self._highest_us}, significant_figures={self._sig}) vs "
                f"(highest_trackable_us={other._highest_us}, significant_figures={other._sig})"
            )

    def merge(self, other: LatencyRecorder) -> None:
        """Add all samples and counters of ``other`` into this recorder.

        Both recorders must have the same configuration, so bucket boundaries
        coincide and the result equals the recorder of the union of samples.

        Raises:
            ValueError: if the configurations differ.
        """
        self._check_compatible(other)
        # Adding counts bucket by bucket instead of HdrHistogram.add(): add()
        # derives min from get_min_value(), which is 0 for an empty histogram,
        # so merging into a fresh histogram would report min 0.
        for index, count in other._nonzero_counts():
            self._hist.counts[index] += count
        self._hist.total_count += other._hist.total_count
        # hdrh's encoder writes counts only up to the bucket of max_value, so it
        # must stay current; min_value is never read (summary() uses the counts).
        self._hist.max_value = max(self._hist.max_value, other._hist.max_value)
        self.out_of_range += other.out_of_range
        self.max_out_of_range = max(self.max_out_of_range, other.max_out_of_range)
        self.negative += other.negative

    # -- inspection ----------------------------------------------------
    @property
    def count(self) -> int:
        """Samples held in the histogram (excludes :attr:`out_of_range`)."""
        return int(self._hist.total_count)

    def _nonzero_counts(self) -> Iterator[tuple[int, int]]:
        return nonzero_counts(self._hist)

    def nonzero_buckets(self) -> list[tuple[int, int]]:
        """``(bucket index, count)`` of every non-empty bucket, in index order (for :func:`buckets_percentile`)."""
        return list(self._nonzero_counts())

    def _values_at_percentiles(self, percentiles: Sequence[float]) -> dict[float, int]:
        # hdrh's get_percentile_to_value_dict and get_value_at_percentile walk every bucket in Python; the same
        # answer (target count from total_count, first bucket whose running total reaches it, its highest
        # equivalent value, its lowest for percentile 0) from the non-empty buckets alone.
        return percentiles_of(self._hist, self._nonzero_counts(), self._hist.total_count, percentiles)

    def bucket_counts(self) -> list[tuple[int, int]]:
        """Return ``(lowest equivalent value, count)`` for every non-empty bucket.

        Two recorders with the same configuration hold the same samples (up to
        bucket resolution) exactly when their bucket counts are equal.
        """
        h = self._hist
        return [(int(h.get_value_from_index(i)), c) for i, c in self._nonzero_counts()]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyRecorder):
            return NotImplemented
        return (
            (self._highest_us, self._sig) == (other._highest_us, other._sig)
            and self.count == other.count
            and (self.out_of_range, self.max_out_of_range, self.negative)
            == (other.out_of_range, other.max_out_of_range, other.negative)
            and self.bucket_counts() == other.bucket_counts()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable; equality is by content

    def __repr__(self) -> str:
        return (
            f"LatencyRecorder(count={self.count}, out_of_range={self.out_of_range}, "
            f"negative={self.negative}, highest_trackable_us={self._highest_us})"
        )

    def value_at_percentile(self, percentile: float) -> int:
        """Return the value (µs) at ``percentile`` in 0..100, or 0 when empty."""
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be in 0..100, got {percentile}")
        if not self.count:
            return 0
        return self._values_at_percentiles([percentile]).get(percentile, 0)

    def summary(self) -> LatencySummary:
        """Compute the summary statistics (see :class:`LatencySummary`)."""
        h = self._hist
        if not self.count:
            return LatencySummary(0, 0, 0.0, 0, 0, 0, 0, 0, 0, self.out_of_range, self.max_out_of_range, 0)
        pct = self._values_at_percentiles(_SUMMARY_PERCENTILES)
        total = 0
        weighted = 0
        lowest_index = -1
        highest_index = -1
        # min/max/mean come from the counts rather than hdrh's trackers so that
        # decoded histograms (which only know bucket indexes) give the same answer.
        for index, c in self._nonzero_counts():
            if lowest_index < 0:
                lowest_index = index
            highest_index = index
            low = int(h.get_lowest_equivalent_value(h.get_value_from_index(index)))
            high = int(h.get_highest_equivalent_value(low))
            weighted += c * (low + (high - low + 1) // 2)
            total += c
        min_us = int(h.get_lowest_equivalent_value(h.get_value_from_index(lowest_index)))
        max_us = int(h.get_highest_equivalent_value(h.get_value_from_index(highest_index)))
        return LatencySummary(
            count=total,
            min=min_us,
            mean=weighted / total,
            p50=int(pct[50.0]),
            p90=int(pct[90.0]),
            p99=int(pct[99.0]),
            p99_9=int(pct[99.9]),
            p99_99=int(pct[99.99]),
            max=max_us,
            out_of_range=self.out_of_range,
            max_out_of_range=self.max_out_of_range,
            negative=self.negative,
        )

    def result_dict(self) -> dict[str, Any]:
        """Return the ``$defs/metric`` object of ``result-v1.json``: summary, configuration, histogram."""
        return {
            **self.summary().to_dict(),
            "highest_trackable_us": self._highest_us,
            "significant_figures": self._sig,
            "histogram": self.encode(),
        }

    # -- .hgrm output --------------------------------------------------
    def percentile_distribution(self, *, ticks_per_half_distance: int = 5, unit_ratio: float = 1.0) -> str:
        """Render the percentile distribution in HdrHistogram's ``.hgrm`` text format.

        The layout follows the Java ``outputPercentileDistribution`` (header,
        ``Value Percentile TotalCount 1/(1-Percentile)`` rows, and the
        ``#[Mean ...]``, ``#[Max ...]``, ``#[Buckets ...]`` footer) so the file
        loads in the HdrHistogram plotter. Out-of-range samples are not in the
        table; a ``#[OutOfRange ...]`` footer line reports them (the plotter
        ignores unknown ``#`` lines).

        Args:
            ticks_per_half_distance: percentile rows per halving of the
                remaining distance to 100 %.
            unit_ratio: divisor applied to values, e.g. 1000.0 for milliseconds.
        """
        if ticks_per_half_distance < 1:
            raise ValueError(f"ticks_per_half_distance must be >= 1, got {ticks_per_half_distance}")
        if not unit_ratio > 0:
            raise ValueError(f"unit_ratio must be > 0, got {unit_ratio}")
        h = self._hist
        digits = self._sig
        lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
        if self.count:
            for step in h.get_percentile_iterator(ticks_per_half_distance):
                value = step.value_iterated_to / unit_ratio
                level = step.percentile_level_iterated_to / 100.0
                total = step.total_count_to_this_value
                if step.percentile_level_iterated_to >= 100.0:
                    lines.append(f"{value:12.{digits}f} {level:2.12f} {total:10d}")
                else:
                    lines.append(f"{value:12.{digits}f} {level:2.12f} {total:10d} {1.0 / (1.0 - level):14.2f}")
        s = self.summary()
        mean, stddev = self._mean_stddev()
        mean_s = f"{mean / unit_ratio:12.{digits}f}"
        stddev_s = f"{stddev / unit_ratio:12.{digits}f}"
        lines.append(f"#[Mean    = {mean_s}, StdDeviation   = {stddev_s}]")
        lines.append(f"#[Max     = {s.max / unit_ratio:12.{digits}f}, Total count    = {s.count:12d}]")
        lines.append(f"#[Buckets = {h.bucket_count:12d}, SubBuckets     = {h.sub_bucket_count:12d}]")
        max_oor = f"{self.max_out_of_range / unit_ratio:.{digits}f}"
        lines.append(f"#[OutOfRange = {self.out_of_range:d}, MaxOutOfRange = {max_oor}, Negative = {self.negative:d}]")
        return "\n".join(lines) + "\n"

    def _mean_stddev(self) -> tuple[float, float]:
        h = self._hist
        total = self.count
        if not total:
            return 0.0, 0.0
        mids: list[tuple[int, int]] = []
        for index, c in self._nonzero_counts():
            low = int(h.get_lowest_equivalent_value(h.get_value_from_index(index)))
            high = int(h.get_highest_equivalent_value(low))
            mids.append((low + (high - low + 1) // 2, c))
        mean = sum(m * c for m, c in mids) / total
        var = sum(c * (m - mean) ** 2 for m, c in mids) / total
        return mean, math.sqrt(var)

    # -- transport -----------------------------------------------------
    def encode(self) -> str:
        """Return the histogram as HdrHistogram's compressed base64 V2 "histoblob".

        The blob carries only the histogram; use :meth:`to_dict` to carry the
        out-of-range and negative counters as well.
        """
        blob = self._hist.encode()
        return blob.decode("ascii") if isinstance(blob, bytes) else str(blob)

    @classmethod
    def decode(cls, blob: str | bytes) -> LatencyRecorder:
        """Rebuild a recorder from :meth:`encode` output (counters start at 0).

        Raises:
            HistogramDecodeError: if the blob is not a valid V2 histoblob or
                its configuration is not one a recorder can have.
        """
        try:
            decoded: Any = HdrHistogram.decode(blob)
        except (
            binascii.Error,
            HdrCookieException,
            HdrLengthException,
            zlib.error,
            ValueError,
            TypeError,
        ) as exc:
            raise HistogramDecodeError(f"not a valid HDR histogram blob: {exc!r}") from exc
        if int(decoded.lowest_trackable_value) != LOWEST_US:
            raise HistogramDecodeError(
                f"histogram lowest trackable value must be {LOWEST_US}, got {decoded.lowest_trackable_value}"
            )
        try:
            rec = cls(
                highest_trackable_us=int(decoded.highest_trackable_value),
                significant_figures=int(decoded.significant_figures),
            )
        except ValueError as exc:
            raise HistogramDecodeError(str(exc)) from exc
        for index in range(min(decoded.counts_len, rec._hist.counts_len)):
            c = decoded.get_count_at_index(index)
            if c:
                rec._hist.counts[index] = c
                rec._hist.max_value = max(rec._hist.max_value, int(rec._hist.get_value_from_index(index)))
                rec._hist.total_count += int(c)
        if rec._hist.total_count != int(decoded.total_count):
            raise HistogramDecodeError("histogram blob has counts outside its own range")
        return rec

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict: configuration, counters and the encoded histogram."""
        return {
            "v": _WIRE_VERSION,
            "highest_trackable_us": self._highest_us,
            "significant_figures": self._sig,
            "out_of_range": self.out_of_range,
            "max_out_of_range": self.max_out_of_range,
            "negative": self.negative,
            "histogram": self.encode(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyRecorder:
        """Inverse of :meth:`to_dict`.

        Raises:
            HistogramDecodeError: if a key is missing, has the wrong type, or
                disagrees with the encoded histogram.
        """
        try:
            if data["v"] != _WIRE_VERSION:
                raise HistogramDecodeError(f"unsupported recorder dict version {data['v']!r}, expected 1")
            rec = cls.decode(data["histogram"])
            counters = {k: data[k] for k in ("out_of_range", "max_out_of_range", "negative")}
            if (data["highest_trackable_us"], data["significant_figures"]) != (rec._highest_us, rec._sig):
                raise HistogramDecodeError("recorder dict configuration disagrees with its histogram")
        except KeyError as exc:
            raise HistogramDecodeError(f"recorder dict is missing key {exc}") from exc
        except TypeError as exc:
            raise HistogramDecodeError(f"recorder dict is malformed: {exc}") from exc
        for key, value in counters.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise HistogramDecodeError(f"{key} must be a non-negative int, got {value!r}")
            setattr(rec, key, value)
        return rec
