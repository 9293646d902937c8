from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness.measure.resources import ResourceSampler, redis_info
from harness.stack.redis import RedisServer


def test_redis_info_reads_a_private_server(redis_server: RedisServer) -> None:
    assert redis_server.port is not None
    info = redis_info(redis_server.port)
    assert info["tcp_port"] == str(redis_server.port)
    assert int(info["connected_clients"]) >= 1


def test_sampler_follows_children_and_measures_a_busy_one(redis_server: RedisServer) -> None:
    # A parent that starts a CPU-burning child, like Uvicorn's supervisor and its workers.
    burn = "import time\\nend = time.time() + 5\\nwhile time.time() < end: pass"
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', '{burn}'])\n"
        "time.sleep(5); child.kill()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.5)
        sampler = ResourceSampler({"server": parent.pid}, redis_port=redis_server.port, interval_s=0.2).start()
        time.sleep(1.5)
        sampler.stop()
    finally:
        parent.kill()
        parent.wait()
    processes = sampler.processes()
    assert {p.name for p in processes} == {"server", "server/child"}
    child = next(p for p in processes if p.name == "server/child")
    busiest = max(s.cpu_percent for s in child.samples)
    assert busiest > 50, child.samples
    assert all(s.rss_bytes > 0 and s.num_fds > 0 for s in child.samples)
    redis = sampler.redis_samples
    assert len(redis) >= 3 and all(r.connected_clients >= 1 for r in redis)
    assert sampler.errors == []


def test_unreachable_redis_is_reported_not_raised() -> None:
    sampler = ResourceSampler({}, redis_port=1, interval_s=0.1)
    sampler.sample_once()
    assert sampler.errors and "redis INFO" in sampler.errors[0]
    with pytest.raises(ValueError, match="interval_s"):
        ResourceSampler({}, interval_s=0)


def test_a_process_started_after_the_sampler_is_followed_once_tracked() -> None:
    # The EKS gateway starts after the stack's sampler: it is added with track().
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    late = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        sampler = ResourceSampler({"server": first.pid}, interval_s=0.1).start()
        time.sleep(0.35)
        sampler.track("eks-gateway-0", late.pid)
        time.sleep(0.35)
        sampler.stop()
    finally:
        for process in (first, late):
            process.kill()
            process.wait()
    by_name = {p.name: p for p in sampler.processes()}
    assert set(by_name) == {"server", "eks-gateway-0"}
    assert by_name["eks-gateway-0"].samples and len(by_name["eks-gateway-0"].samples) < len(by_name["server"].samples)
