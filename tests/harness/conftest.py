from __future__ import annotations

import pytest

from harness.measure.latency import LatencyRecorder


@pytest.fixture
def small_recorder() -> LatencyRecorder:
    """A recorder with a low ceiling so out-of-range cases are cheap to reach."""
    return LatencyRecorder(highest_trackable_us=10_000)
