"""A trial's server figures (the sum over the send window, each process's own CPU) and its generator's lag limit."""

from __future__ import annotations

from harness.capacity.trial import ProcessCpu, _server_figures
from harness.measure.resources import ProcessSample, ServerProcess


def _process(name: str, pid: int, cpu: list[float]) -> ServerProcess:
    # One sample a second from t = 1 s; each covers the second before it.
    samples = tuple(ProcessSample(float(t), c, 50 * 2**20, 30) for t, c in enumerate(cpu, start=1))
    return ServerProcess(name, pid, samples)


def test_each_process_gets_its_mean_over_the_window_and_the_busiest_comes_first() -> None:
    # The sampler started at epoch 1000; the window is seconds [1003, 1006): samples ending at 4..7 s count.
    server = _process("uvicorn-0", 7, [100.0, 100.0, 100.0, 40.0, 40.0, 40.0, 40.0, 100.0])
    worker = _process("timeclock-worker", 8, [0.0, 0.0, 0.0, 96.0, 98.0, 97.0, 99.0, 0.0])
    figures = _server_figures((server, worker), 1000.0, (1003, 1006))
    assert figures.processes == (
        ProcessCpu("timeclock-worker", 8, 97.5),
        ProcessCpu("uvicorn-0", 7, 40.0),
    )
    assert figures.cpu_percent == 137.5
    assert figures.rss_bytes == 100 * 2**20 and figures.fds == 60


def test_without_a_window_or_samples_nothing_is_claimed() -> None:
    server = _process("uvicorn-0", 7, [50.0, 50.0])
    assert _server_figures((server,), 1000.0, None).processes == ()
    assert _server_figures((server,), 1000.0, None).cpu_percent is None
    empty = _server_figures((), 1000.0, (1003, 1006))
    assert (empty.cpu_percent, empty.rss_bytes, empty.processes) == (None, None, ())


def test_the_generators_lag_limit_is_a_tenth_of_the_tightest_latency_objective_and_at_least_its_own() -> None:
    from harness.capacity.trial import lag_limit_ms
    from harness.scenario.slo_text import parse_slo_text

    def limit(*texts: str) -> float:
        return lag_limit_ms(tuple(parse_slo_text(t) for t in texts))

    assert limit("p99<250ms", "loss<=0") == 25.0
    assert limit("p99<250ms", "fanout.p99<100ms") == 10.0
    assert limit("p99<20ms") == 5.0  # never below the generator's own limit
    assert limit("loss<=0") == 5.0
