"""Delivery accounting per (sender, receiver) stream, plus connection failure counters.

Definitions (also in docs/measurement.md). For one stream, sequence numbers
are the envelope ``seq`` values of one sender as seen by one receiver, in
arrival order:

* **received**: every arrival, duplicates included.
* **duplicate**: an arrival whose seq was already received on this stream.
* **reordered**: an arrival whose seq is lower than the highest seq received
  so far on this stream and was not received before (it fills a gap). A
  message that arrives late is counted once here, and the messages that
  overtook it are not counted.
* **distinct**: ``received - duplicates - late_untracked``.
* **expected**: the seqs the receiver should have got, a range
  ``[first, end)`` set by the caller (a receiver that joined a group late
  expects fewer), or several (a receiver that left and came back expects
  what was sent while it was a member). Without an explicit expectation it
  is ``[0, highest + 1)``, so losses after the last received message are
  invisible.
* **optional**: seqs that may or may not arrive, neither owed nor outside:
  those sent while the receiver's socket was opening, or in the moments
  before it saw its socket close (harness.measure.membership).
* **cut_off**: optional seqs never received.
* **tolerated**: seqs that are neither owed nor counted when they do not come, and not outside when
  they do: those sent while a reconnecting receiver was away, which a server that was still
  delivering late may hand to its new socket.
* **lost**: seqs in the expected range never received, computed by
  :meth:`StreamTracker.counts`. The caller decides *when*: after the last send,
  wait a grace period for in-flight messages, then read the counts.
* **outside_expected**: distinct seqs received outside the expected and
  optional and tolerated ranges (e.g. a sender that sent more than it reported).

Memory: a stream stores the received seqs as sorted disjoint intervals, so an
in-order stream costs one interval however long the run, and each gap costs
one more. When the intervals exceed ``max_intervals`` (a pathological run with
that many holes), the lowest interval is folded into a *floor*: everything
below it is final, its gaps count as lost for good, and arrivals below it are
counted as ``late_untracked`` because they can no longer be told apart from
duplicates. ``exact`` is False from then on, and reports should say so.

This module imports neither gevent nor asyncio.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final, Literal, get_args

from harness.measure.ranges import Ranges, minus, overlap, size, union

__all__ = [
    "CONNECT_FAILURE_KINDS",
    "DEFAULT_MAX_INTERVALS",
    "AccountingDecodeError",
    "ConnectFailureKind",
    "ConnectFailures",
    "DeliveryCounts",
    "DeliveryLedger",
    "Observation",
    "StreamTracker",
    "UnexpectedCloses",
]

DEFAULT_MAX_INTERVALS: Final = 4096

Observation = Literal["new", "reordered", "duplicate", "late_untracked"]
ConnectFailureKind = Literal["http_403", "refused", "timeout", "handshake_error", "other"]
CONNECT_FAILURE_KINDS: Final[tuple[ConnectFailureKind, ...]] = get_args(ConnectFailureKind)


class AccountingDecodeError(ValueError):
    """A serialized accounting dict is malformed."""


def _nonneg_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AccountingDecodeError(f"{what} must be a non-negative int, got {value!r}")
    return value


def _positive_int(value: Any, what: str) -> int:
    if _nonneg_int(value, what) < 1:
        raise AccountingDecodeError(f"{what} must be >= 1, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """Delivery counts of one stream, or summed over streams.

    Attributes:
        streams: number of (sender, receiver) streams summed.
        expected: seqs the receivers should have got.
        received: all arrivals, duplicates included.
        distinct: distinct seqs received (in or outside the expected range).
        lost: expected seqs never received.
        duplicated: arrivals of an already-received seq.
        reordered: first arrivals of a seq below the stream's high-water mark.
        outside_expected: distinct seqs received outside the expected range.
        late_untracked: arrivals below an eviction floor (see module doc).
        exact: False if any stream evicted intervals, so lost/duplicated may
            be off by the ``late_untracked`` arrivals.
        cut_off: optional seqs never received (see module doc); 0 in results
            written before it existed.
    """

    streams: int
    expected: int
    received: int
    distinct: int
    lost: int
    duplicated: int
    reordered: int
    outside_expected: int
    late_untracked: int
    exact: bool
    cut_off: int = 0

    def __add__(self, other: DeliveryCounts) -> DeliveryCounts:
        if not isinstance(other, DeliveryCounts):
            return NotImplemented
        ints = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "exact"}
        return DeliveryCounts(**ints, exact=self.exact and other.exact)

    @classmethod
    def zero(cls) -> DeliveryCounts:
        """The neutral element of ``+``."""
        return cls(0, 0, 0, 0, 0, 0, 0, 0, 0, True)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict with the field names of the result schema."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryCounts:
        """Inverse of :meth:`to_dict`.

        Raises:
            AccountingDecodeError: if a count is missing or not a non-negative int, or ``exact`` is not a bool.
        """
        try:
            ints = {
                f.name: _nonneg_int(data[f.name] if f.name in data or f.name != "cut_off" else 0, f.name)
                for f in fields(cls)
                if f.name != "exact"
            }
            exact = data["exact"]
        except KeyError as exc:
            raise AccountingDecodeError(f"delivery counts are missing {exc}") from None
        if not isinstance(exact, bool):
            raise AccountingDecodeError(f"delivery counts: exact must be a bool, got {exact!r}")
        return cls(**ints, exact=exact)


def _checked_ranges(ranges: Iterable[tuple[int, int]], what: str) -> Ranges:
    out: Ranges = []
    for pair in ranges:
        first, end = pair
        if not 0 <= first <= end:
            raise ValueError(f"{what} range must satisfy 0 <= first <= end, got first={first}, end={end}")
        if out and first < out[-1][1]:
            raise ValueError(f"{what} ranges must be sorted and disjoint, got {pair!r} after {out[-1]!r}")
        if first < end:
            out.append((first, end))
    return out


class StreamTracker:
    """Delivery state of one (sender, receiver) stream; see the module doc.

    Args:
        max_intervals: bound on stored gaps before the lowest ones are
            folded into the floor. Must be >= 1.
    """

    __slots__ = (
        "_starts",
        "_ends",
        "max_intervals",
        "received",
        "duplicates",
        "reordered",
        "late_untracked",
        "highest",
        "floor",
        "seen_below_floor",
        "evictions",
        "expected_ranges",
        "optional_ranges",
        "tolerated_ranges",
    )

    def __init__(self, *, max_intervals: int = DEFAULT_MAX_INTERVALS) -> None:
        if max_intervals < 1:
            raise ValueError(f"max_intervals must be >= 1, got {max_intervals}")
        self.max_intervals = max_intervals
        # Received seqs as half-open intervals [_starts[i], _ends[i]), sorted,
        # disjoint and non-adjacent (adjacent ones are always coalesced).
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.received = 0
        self.duplicates = 0
        self.reordered = 0
        self.late_untracked = 0
        self.highest = -1
        self.floor = 0
        self.seen_below_floor = 0
        self.evictions = 0
        #: What the receiver should have got (None: not declared, see :meth:`counts`), and what it may have got.
        self.expected_ranges: Ranges | None = None
        self.optional_ranges: Ranges = []
        self.tolerated_ranges: Ranges = []

    def expect(self, first: int, end: int) -> None:
        """Declare that seqs ``first .. end - 1`` should arrive on this stream.

        Raises:
            ValueError: unless ``0 <= first <= end``.
        """
        self.expect_ranges([(first, end)])

    def expect_ranges(
        self,
        expected: Iterable[tuple[int, int]],
        optional: Iterable[tuple[int, int]] = (),
        tolerated: Iterable[tuple[int, int]] = (),
    ) -> None:
        """Declare the seqs that should arrive (``expected``), those that may (``optional``) and those that may
        arrive without counting either way (``tolerated``), each as sorted, disjoint half-open ranges; a seq in
        more than one is expected if it is, else optional.

        Raises:
            ValueError: for a range that is not ``0 <= first <= end``, or ranges out of order or overlapping.
        """
        owed = _checked_ranges(expected, "expected")
        self.expected_ranges = owed
        self.optional_ranges = minus(_checked_ranges(optional, "optional"), owed)
        self.tolerated_ranges = minus(minus(_checked_ranges(tolerated, "tolerated"), owed), self.optional_ranges)

    def observe(self, seq: int) -> Observation:
        """Account one arrival of ``seq`` and say how it was classified.

        Raises:
            ValueError: if ``seq`` is not a non-negative int.
        """
        ends = self._ends
        # The common case first: the next seq in order extends the highest interval (it cannot be below the
        # floor, a duplicate or reordered). Same outcome as the general path below, at a fraction of its cost.
        if ends and ends[-1] == seq and type(seq) is int:
            self.received += 1
            ends[-1] = seq + 1
            self.highest = seq
            return "new"
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq must be a non-negative int, got {seq!r}")
        self.received += 1
        if seq < self.floor:
            self.late_untracked += 1
            return "late_untracked"
        starts, ends = self._starts, self._ends
        i = bisect.bisect_right(starts, seq) - 1
        if i >= 0 and seq < ends[i]:
            self.duplicates += 1
            return "duplicate"
        result: Observation = "reordered" if seq < self.highest else "new"
        if result == "reordered":
            self.reordered += 1
        self.highest = max(self.highest, seq)
        joins_left = i >= 0 and ends[i] == seq
        joins_right = i + 1 < len(starts) and starts[i + 1] == seq + 1
        if joins_left and joins_right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif joins_left:
            ends[i] = seq + 1
        elif joins_right:
            starts[i + 1] = seq
        else:
            starts.insert(i + 1, seq)
            ends.insert(i + 1, seq + 1)
            self._enforce_bound()
        return result

    def _enforce_bound(self) -> None:
        while len(self._starts) > self.max_intervals:
            # The lowest interval is the oldest hole: messages that are that far
            # behind are treated as lost rather than kept forever.
            self.seen_below_floor += self._ends[0] - self._starts[0]
            del self._starts[0], self._ends[0]
            self.floor = self._starts[0]
            self.evictions += 1

    @property
    def exact(self) -> bool:
        """True while no interval has been evicted."""
        return self.evictions == 0

    def holds(self, seq: int) -> bool:
        """Whether ``seq`` was received; below the eviction floor it cannot be told, and counts as received (so a
        check built on this never calls a message missing that may have come)."""
        if seq < self.floor:
            return True
        i = bisect.bisect_right(self._starts, seq) - 1
        return i >= 0 and seq < self._ends[i]

    def intervals(self) -> list[tuple[int, int]]:
        """Return received seqs above the floor as half-open ``(start, end)`` intervals."""
        return list(zip(self._starts, self._ends, strict=True))

    def counts(self) -> DeliveryCounts:
        """Compute the counts against the expected ranges (see module doc)."""
        owed = self.expected_ranges if self.expected_ranges is not None else [(0, self.highest + 1)]
        received = self.intervals()
        above = overlap(received, owed)
        optional_received = overlap(received, self.optional_ranges)
        tolerated_received = overlap(received, self.tolerated_ranges)
        total_above = sum(e - s for s, e in received)
        # Below the floor only the number of distinct seqs is known, not which:
        # assume they fall inside the expected ranges as far as they reach there.
        below = min(self.seen_below_floor, overlap([(0, self.floor)], owed))
        distinct = self.seen_below_floor + total_above
        in_range = above + below
        expected = size(owed)
        return DeliveryCounts(
            streams=1,
            expected=expected,
            received=self.received,
            distinct=distinct,
            lost=expected - in_range,
            duplicated=self.duplicates,
            reordered=self.reordered,
            outside_expected=distinct - in_range - optional_received - tolerated_received,
            late_untracked=self.late_untracked,
            exact=self.exact,
            cut_off=size(self.optional_ranges) - optional_received,
        )

    def merge(self, other: StreamTracker) -> None:
        """Fold in the state of the same stream observed elsewhere.

        The received sets are united; a seq received by both sides counts as a
        duplicate, as it would have on one receiver. Reordering is summed (the
        relative arrival order across the two sides is unknown). Exact when
        neither side evicted intervals.
        """
        pairs = sorted(self.intervals() + other.intervals())
        overlap = 0
        starts: list[int] = []
        ends: list[int] = []
        for s, e in pairs:
            if starts and s <= ends[-1]:
                overlap += max(0, min(e, ends[-1]) - s)
                ends[-1] = max(ends[-1], e)
            else:
                starts.append(s)
                ends.append(e)
        self._starts, self._ends = starts, ends
        self.received += other.received
        self.duplicates += other.duplicates + overlap
        self.reordered += other.reordered
        self.late_untracked += other.late_untracked
        self.highest = max(self.highest, other.highest)
        self.seen_below_floor += other.seen_below_floor
        self.evictions += other.evictions
        new_floor = max(self.floor, other.floor)
        self.floor = 0
        while self._starts and self._starts[0] < new_floor:
            # Intervals under the raised floor become part of the uncounted past.
            cut = min(self._ends[0], new_floor)
            self.seen_below_floor += cut - self._starts[0]
            if cut == self._ends[0]:
                del self._starts[0], self._ends[0]
            else:
                self._starts[0] = cut
        self.floor = new_floor
        self.max_intervals = max(self.max_intervals, other.max_intervals)
        if other.expected_ranges is not None:
            self.expected_ranges = union((self.expected_ranges or []) + other.expected_ranges)
        self.optional_ranges = minus(union(self.optional_ranges + other.optional_ranges), self.expected_ranges or [])
        self.tolerated_ranges = minus(
            minus(union(self.tolerated_ranges + other.tolerated_ranges), self.expected_ranges or []),
            self.optional_ranges,
        )
        self._enforce_bound()

    def to_dict(self) -> dict[str, Any]:
        """Return the full state as a JSON-safe dict."""
        return {
            "max_intervals": self.max_intervals,
            "received": self.received,
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "late_untracked": self.late_untracked,
            "highest": self.highest,
            "floor": self.floor,
            "seen_below_floor": self.seen_below_floor,
            "evictions": self.evictions,
            "expected": None if self.expected_ranges is None else [[s, e] for s, e in self.expected_ranges],
            "optional": [[s, e] for s, e in self.optional_ranges],
            "tolerated": [[s, e] for s, e in self.tolerated_ranges],
            "intervals": [[s, e] for s, e in self.intervals()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamTracker:
        """Inverse of :meth:`to_dict`.

        Raises:
            AccountingDecodeError: if a key is missing or a value is invalid.
        """
        try:
            t = cls(max_intervals=_positive_int(data["max_intervals"], "max_intervals"))
            for key in ("received", "duplicates", "reordered", "late_untracked", "floor", "seen_below_floor"):
                setattr(t, key, _nonneg_int(data[key], key))
            t.evictions = _nonneg_int(data["evictions"], "evictions")
            highest = data["highest"]
            if isinstance(highest, bool) or not isinstance(highest, int) or highest < -1:
                raise AccountingDecodeError(f"highest must be an int >= -1, got {highest!r}")
            t.highest = highest
            expected = data["expected"]
            if expected is not None:
                # A pair of ints: one range, as snapshots and results before optional ranges wrote it.
                pairs = [expected] if expected and not isinstance(expected[0], list) else expected
                t.expect_ranges(
                    [tuple(_nonneg_int(v, "expected bound") for v in pair) for pair in pairs],  # type: ignore[misc]
                    [tuple(_nonneg_int(v, "optional bound") for v in pair) for pair in data.get("optional", [])],  # type: ignore[misc]
                    [tuple(_nonneg_int(v, "tolerated bound") for v in pair) for pair in data.get("tolerated", [])],  # type: ignore[misc]
                )
            prev_end = t.floor - 1
            for pair in data["intervals"]:
                s, e = (_nonneg_int(v, "interval bound") for v in pair)
                # Coalesced, sorted, above the floor: anything else would break bisect.
                if not (prev_end < s < e):
                    raise AccountingDecodeError(f"intervals must be sorted, disjoint and non-empty, got {pair!r}")
                t._starts.append(s)
                t._ends.append(e)
                prev_end = e
        except KeyError as exc:
            raise AccountingDecodeError(f"stream dict is missing key {exc}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, AccountingDecodeError):
                raise
            raise AccountingDecodeError(f"stream dict is malformed: {exc}") from exc
        return t


class DeliveryLedger:
    """All streams of a run (or of one worker), keyed by ``(sender, receiver)``.

    Args:
        max_intervals: passed to every :class:`StreamTracker`.
    """

    __slots__ = ("_streams", "_max_intervals", "foreign")

    def __init__(self, *, max_intervals: int = DEFAULT_MAX_INTERVALS) -> None:
        if max_intervals < 1:
            raise ValueError(f"max_intervals must be >= 1, got {max_intervals}")
        self._max_intervals = max_intervals
        self._streams: dict[tuple[str, str], StreamTracker] = {}
        #: Messages that were not harness envelopes of this run, by
        #: :data:`harness.load.envelope.ForeignReason`.
        self.foreign: dict[str, int] = {}

    def record_foreign(self, reason: str) -> None:
        """Count one received message that is not an envelope of this run."""
        self.foreign[reason] = self.foreign.get(reason, 0) + 1

    def stream(self, sender: str, receiver: str) -> StreamTracker:
        """Return the tracker of a stream, creating it on first use."""
        key = (sender, receiver)
        t = self._streams.get(key)
        if t is None:
            t = self._streams[key] = StreamTracker(max_intervals=self._max_intervals)
        return t

    def observe(self, sender: str, receiver: str, seq: int) -> Observation:
        """Account one arrival on the ``sender -> receiver`` stream."""
        tracker = self._streams.get((sender, receiver))
        if tracker is None:
            tracker = self.stream(sender, receiver)
        return tracker.observe(seq)

    def expect(self, sender: str, receiver: str, first: int, end: int) -> None:
        """Set the expected seq range ``[first, end)`` of one stream."""
        self.stream(sender, receiver).expect(first, end)

    def expect_ranges(
        self,
        sender: str,
        receiver: str,
        expected: Iterable[tuple[int, int]],
        optional: Iterable[tuple[int, int]] = (),
        tolerated: Iterable[tuple[int, int]] = (),
    ) -> None:
        """Set the expected, optional and tolerated seq ranges of one stream (:meth:`StreamTracker.expect_ranges`)."""
        self.stream(sender, receiver).expect_ranges(expected, optional, tolerated)

    def keys(self) -> list[tuple[str, str]]:
        """Return the stream keys in sorted order."""
        return sorted(self._streams)

    def counts(self, sender: str, receiver: str) -> DeliveryCounts:
        """Return the counts of one stream (an empty stream if never seen)."""
        return self.stream(sender, receiver).counts()

    def totals(self) -> DeliveryCounts:
        """Sum the counts of all streams."""
        total = DeliveryCounts.zero()
        for key in self.keys():
            total = total + self._streams[key].counts()
        return total

    def merge(self, other: DeliveryLedger) -> None:
        """Fold in another ledger; streams with the same key are merged exactly."""
        for reason, n in other.foreign.items():
            self.foreign[reason] = self.foreign.get(reason, 0) + n
        for key, tracker in other._streams.items():
            mine = self._streams.get(key)
            if mine is None:
                self._streams[key] = StreamTracker.from_dict(tracker.to_dict())
            else:
                mine.merge(tracker)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (stream keys become ``sender``/``receiver`` members)."""
        return {
            "max_intervals": self._max_intervals,
            "foreign": dict(sorted(self.foreign.items())),
            "streams": [{"sender": s, "receiver": r, "state": self._streams[(s, r)].to_dict()} for s, r in self.keys()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryLedger:
        """Inverse of :meth:`to_dict`.

        Raises:
            AccountingDecodeError: if the dict is malformed.
        """
        try:
            ledger = cls(max_intervals=_positive_int(data["max_intervals"], "max_intervals"))
            for reason, n in data["foreign"].items():
                if not isinstance(reason, str):
                    raise AccountingDecodeError(f"foreign reason must be a string, got {reason!r}")
                count = _nonneg_int(n, f"foreign {reason!r}")
                if count:
                    ledger.foreign[reason] = count
            for item in data["streams"]:
                sender, receiver = item["sender"], item["receiver"]
                if not isinstance(sender, str) or not isinstance(receiver, str):
                    raise AccountingDecodeError(f"stream sender/receiver must be strings, got {item!r:.80}")
                if (sender, receiver) in ledger._streams:
                    raise AccountingDecodeError(f"stream {sender!r} -> {receiver!r} appears twice")
                ledger._streams[(sender, receiver)] = StreamTracker.from_dict(item["state"])
        except KeyError as exc:
            raise AccountingDecodeError(f"ledger dict is missing key {exc}") from exc
        except (TypeError, AttributeError) as exc:
            raise AccountingDecodeError(f"ledger dict is malformed: {exc}") from exc
        return ledger


class ConnectFailures:
    """Counts of failed connection attempts by kind.

    Kinds: ``http_403`` (handshake rejected with 403, e.g. auth or origin
    check), ``refused`` (TCP connection refused), ``timeout`` (connect or
    handshake did not finish in time), ``handshake_error`` (any other
    handshake failure: non-101 status, bad headers), ``other``.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[ConnectFailureKind, int] = dict.fromkeys(CONNECT_FAILURE_KINDS, 0)

    def record(self, kind: ConnectFailureKind, count: int = 1) -> None:
        """Count ``count`` failures of ``kind``.

        Raises:
            ValueError: for an unknown kind or a count < 1.
        """
        if kind not in self._counts:
            raise ValueError(f"unknown connect failure kind {kind!r}, expected one of {CONNECT_FAILURE_KINDS}")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self._counts[kind] += count

    def __getitem__(self, kind: ConnectFailureKind) -> int:
        return self._counts[kind]

    @property
    def total(self) -> int:
        """All failures, every kind."""
        return sum(self._counts.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConnectFailures):
            return NotImplemented
        return self._counts == other._counts

    __hash__ = None  # type: ignore[assignment]  # mutable; equality is by content

    def merge(self, other: ConnectFailures) -> None:
        """Add the counts of ``other``."""
        for kind, n in other._counts.items():
            self._counts[kind] += n

    def to_dict(self) -> dict[str, int]:
        """Return ``{kind: count}`` for every kind (zeros included)."""
        return {str(kind): n for kind, n in self._counts.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConnectFailures:
        """Inverse of :meth:`to_dict`; missing kinds count 0, unknown kinds are an error."""
        cf = cls()
        for kind, n in data.items():
            if kind not in cf._counts:
                raise AccountingDecodeError(f"unknown connect failure kind {kind!r}")
            cf._counts[kind] = _nonneg_int(n, f"connect failures {kind!r}")
        return cf


class UnexpectedCloses:
    """Counts of connections closed when the client did not ask for it, by close code.

    Codes are RFC 6455 section 7.4 close codes as the client saw them; 1006
    means the connection dropped without a close frame.
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}

    def record(self, code: int, count: int = 1) -> None:
        """Count ``count`` unexpected closes with ``code``.

        Raises:
            ValueError: if ``code`` is not in 0..4999 or ``count`` < 1.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 4999:
            raise ValueError(f"close code must be an int in 0..4999, got {code!r}")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self._counts[code] = self._counts.get(code, 0) + count

    def __getitem__(self, code: int) -> int:
        return self._counts.get(code, 0)

    @property
    def total(self) -> int:
        """All unexpected closes, every code."""
        return sum(self._counts.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnexpectedCloses):
            return NotImplemented
        return self._counts == other._counts

    __hash__ = None  # type: ignore[assignment]  # mutable; equality is by content

    def merge(self, other: UnexpectedCloses) -> None:
        """Add the counts of ``other``."""
        for code, n in other._counts.items():
            self._counts[code] = self._counts.get(code, 0) + n

    def items(self) -> Iterable[tuple[int, int]]:
        """Return ``(code, count)`` pairs sorted by code."""
        return sorted(self._counts.items())

    def to_dict(self) -> dict[str, int]:
        """Return ``{"1006": count, ...}``: JSON object keys must be strings."""
        return {str(code): n for code, n in self.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnexpectedCloses:
        """Inverse of :meth:`to_dict`."""
        uc = cls()
        for key, n in data.items():
            try:
                code = int(key)
            except (TypeError, ValueError) as exc:
                raise AccountingDecodeError(f"close code key must be an integer string, got {key!r}") from exc
            count = _nonneg_int(n, f"closes with code {key}")
            if count:
                try:
                    uc.record(code, count)
                except ValueError as exc:
                    raise AccountingDecodeError(str(exc)) from exc
        return uc
