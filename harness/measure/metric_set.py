"""Latency recorders by metric name: what one process measured, merged and shipped as one unit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.measure.latency import (
    _WIRE_VERSION,
    DEFAULT_HIGHEST_US,
    DEFAULT_SIGNIFICANT_FIGURES,
    HistogramDecodeError,
    LatencyRecorder,
    LatencySummary,
)

__all__ = ["MetricSet"]


class MetricSet:
    """Latency recorders keyed by metric name, all with one configuration.

    A Locust worker keeps one ``MetricSet``, ships :meth:`to_dict` in its
    ``report_to_master`` payload, and the master folds each report in with
    ``merge(MetricSet.from_dict(...))``.

    Args:
        highest_trackable_us: passed to every :class:`LatencyRecorder` created.
        significant_figures: passed to every :class:`LatencyRecorder` created.
    """

    __slots__ = ("_recorders", "_highest_us", "_sig")

    def __init__(
        self,
        *,
        highest_trackable_us: int = DEFAULT_HIGHEST_US,
        significant_figures: int = DEFAULT_SIGNIFICANT_FIGURES,
    ) -> None:
        # Validate once here so a bad configuration fails at construction, not
        # at the first record call deep inside a worker.
        LatencyRecorder(highest_trackable_us=highest_trackable_us, significant_figures=significant_figures)
        self._highest_us = highest_trackable_us
        self._sig = significant_figures
        self._recorders: dict[str, LatencyRecorder] = {}

    def recorder(self, name: str) -> LatencyRecorder:
        """Return the recorder for ``name``, creating it empty on first use."""
        rec = self._recorders.get(name)
        if rec is None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"metric name must be a non-empty str, got {name!r}")
            rec = LatencyRecorder(highest_trackable_us=self._highest_us, significant_figures=self._sig)
            self._recorders[name] = rec
        return rec

    def record_ns(self, name: str, value_ns: int) -> bool:
        """Record a nanosecond duration under metric ``name``."""
        rec = self._recorders.get(name)
        if rec is None:
            rec = self.recorder(name)
        return rec.record_ns(value_ns)

    def record_us(self, name: str, value_us: int) -> bool:
        """Record a microsecond duration under metric ``name``."""
        return self.recorder(name).record_us(value_us)

    def names(self) -> list[str]:
        """Return metric names in sorted order."""
        return sorted(self._recorders)

    def __contains__(self, name: object) -> bool:
        return name in self._recorders

    def __len__(self) -> int:
        return len(self._recorders)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricSet):
            return NotImplemented
        return self._recorders == other._recorders

    __hash__ = None  # type: ignore[assignment]  # mutable; equality is by content

    def merge(self, other: MetricSet) -> None:
        """Merge every recorder of ``other`` into the recorder of the same name.

        Raises:
            ValueError: if the two sets have different configurations.
        """
        if (self._highest_us, self._sig) != (other._highest_us, other._sig):
            raise ValueError(
                "cannot merge metric sets with different configurations: "
                f"({self._highest_us}, {self._sig}) vs ({other._highest_us}, {other._sig})"
            )
        for name, rec in other._recorders.items():
            self.recorder(name).merge(rec)

    def summaries(self) -> dict[str, LatencySummary]:
        """Return the summary of every metric, keyed by name."""
        return {name: self._recorders[name].summary() for name in self.names()}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (see :meth:`LatencyRecorder.to_dict`)."""
        return {
            "v": _WIRE_VERSION,
            "highest_trackable_us": self._highest_us,
            "significant_figures": self._sig,
            "metrics": {name: self._recorders[name].to_dict() for name in self.names()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSet:
        """Inverse of :meth:`to_dict`.

        Raises:
            HistogramDecodeError: if the dict is malformed or a recorder's
                configuration differs from the set's.
        """
        try:
            if data["v"] != _WIRE_VERSION:
                raise HistogramDecodeError(f"unsupported metric set version {data['v']!r}, expected 1")
            ms = cls(
                highest_trackable_us=data["highest_trackable_us"],
                significant_figures=data["significant_figures"],
            )
            metrics = data["metrics"]
            if not isinstance(metrics, Mapping):
                raise HistogramDecodeError(f"'metrics' must be an object, got {type(metrics).__name__}")
            for name, rec_data in metrics.items():
                rec = LatencyRecorder.from_dict(rec_data)
                if (rec._highest_us, rec._sig) != (ms._highest_us, ms._sig):
                    raise HistogramDecodeError(f"metric {name!r} has a configuration different from its set")
                ms.recorder(name).merge(rec)
        except KeyError as exc:
            raise HistogramDecodeError(f"metric set dict is missing key {exc}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, HistogramDecodeError):
                raise
            raise HistogramDecodeError(f"metric set dict is malformed: {exc}") from exc
        return ms
