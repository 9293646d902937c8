"""Sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench``, ``nox -s serve -- --server uvicorn --layer redis``."""

from __future__ import annotations

import os
import shutil
import tempfile

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

CHROMIUM = os.environ.get("CHROMIUM_EXECUTABLE", "/usr/bin/chromium")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (starts its own redis-server, servers and headless Chromium); under CI (``CI`` set), the
    lint session's checks first, in the same environment."""
    if os.environ.get("CI"):
        # One environment instead of two: a second install costs CI about 20 s of its 15-minute budget.
        session.install("-e", ".[test,lint]")
        _lint_checks(session)
    else:
        session.install("-e", ".[test]")
    # Outside the checkout: a temp dir inside it would change how files are named in messages under test.
    env = {"REFERENCE_APP_DATA_DIR": tempfile.mkdtemp(prefix="channels-harness-tests-")}
    args = list(session.posargs)
    if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
        # Outside CI a missing browser should not hide every other result; CI installs Chromium and runs them.
        session.warn(f"{CHROMIUM} not found: browser tests are skipped (apt-get install chromium to run them)")
        args = ["-m", "not browser", *args]
    session.run("python", "-m", "pytest", "--durations=10", *args, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, mypy, and the layering contracts of harness/ (import-linter)."""
    session.install("-e", ".[test,lint]")
    _lint_checks(session)


def _lint_checks(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: the smoke scenario on Daphne and Uvicorn (in-memory; Redis cells when a redis-server is found)."""
    session.install("-e", ".")
    session.run("python", "-m", "harness", "run", "--scenario", "smoke", "--add-redis-layers", *session.posargs)


@nox.session
def serve(session: nox.Session) -> None:
    """Serve the reference app: arguments after -- go to `harness serve` (see `harness serve --help`)."""
    session.install("-e", ".")
    session.run("python", "-m", "harness", "serve", *session.posargs)


@nox.session(name="bench-generator")
def bench_generator(session: nox.Session) -> None:
    """Generator vs server CPU per delivered message, and vs two plain Locust users (docs/performance.md)."""
    session.install("-e", ".", "websocket-client")
    session.run("python", "benchmarks/generator_cost.py", *session.posargs)


@nox.session(name="capacity-validation")
def capacity_validation(session: nox.Session) -> None:
    """harness capacity against echo servers of known capacity: error of the answer and wall time (docs/capacity.md)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/capacity_validation.py", *session.posargs)


@nox.session(name="capacity-goals")
def capacity_goals(session: nox.Session) -> None:
    """Capacities of the reference app on this machine: terminals plan, idle sockets, rooms, USL (docs/capacity.md)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/capacity_goals.py", *(session.posargs or ["--part", "sockets"]))


@nox.session(name="layer-cost")
def layer_cost(session: nox.Session) -> None:
    """CPU per delivery of Channels' in-memory layer against the sockets a process holds (docs/capacity.md)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/inmemory_layer_cost.py", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """30 minutes at 5,000 sockets per cell, judged flat, not merely bounded (docs/reliability.md#soak)."""
    session.install("-e", ".")
    session.run("python", "-m", "harness", "run", "--scenario", "soak", *session.posargs)


@nox.session(name="chaos")
def chaos(session: nox.Session) -> None:
    """The timeclock-chaos scenario: a shift change under the whole fault catalogue, punches audited exactly once."""
    session.install("-e", ".")
    session.run("python", "-m", "harness", "run", "--scenario", "timeclock-chaos", *session.posargs)


@nox.session(name="gate-validation")
def gate_validation(session: nox.Session) -> None:
    """The gate's measured false-alarm and detection rates on the reference app (docs/ci.md; about 80 minutes)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/gate_validation.py", *session.posargs)
