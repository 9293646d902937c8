"""The recorder of a result.json metric, decoded once however many exporters read it.

report.html's spectrum and the ``.hgrm`` files read the same histograms of the same document; decoding each blob
once for both keeps the writing of a large result from paying twice. The recorders are shared, so readers must not
record into them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from harness.measure.latency import LatencyRecorder

__all__ = ["metric_recorder"]


# Each decoded recorder holds its 17,408-bucket array (about 140 KB): enough for the metrics of a large matrix.
@lru_cache(maxsize=128)
def _decoded(histogram: str, out_of_range: int, max_out_of_range: int, negative: int) -> LatencyRecorder:
    recorder = LatencyRecorder.decode(histogram)
    recorder.out_of_range = out_of_range
    recorder.max_out_of_range = max_out_of_range
    recorder.negative = negative
    return recorder


def metric_recorder(metric: Mapping[str, Any]) -> LatencyRecorder:
    """The recorder of a ``$defs/metric`` object, with its out-of-range and negative counts; read it, never record.

    Raises:
        HistogramDecodeError: if the histogram cannot be decoded.
        KeyError: if the metric has no histogram.
    """
    return _decoded(
        str(metric["histogram"]),
        int(metric.get("out_of_range", 0)),
        int(metric.get("max_out_of_range", 0)),
        int(metric.get("negative", 0)),
    )
