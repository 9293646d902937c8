"""Environment fingerprint stored with every result, in the spirit of pyperf's metadata.

Results from two runs are comparable only if they ran on the same kind of
machine with the same software; the fingerprint records what is needed to
check that (see :data:`CHECKED_KEYS`) and to reproduce the run.

Package versions come from ``importlib.metadata`` so that fingerprinting never
imports Django, Channels or any server: importing them would configure
settings or start event-loop machinery in the generator process.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CHECKED_KEYS",
    "NOT_INSTALLED",
    "TRACKED_PACKAGES",
    "Fingerprint",
    "collect_fingerprint",
    "cpu_model",
    "git_state",
    "package_versions",
    "redis_server_version",
]

NOT_INSTALLED: Final = "not installed"

#: Report key -> distribution name as known to ``importlib.metadata``.
TRACKED_PACKAGES: Final[Mapping[str, str]] = {
    "django": "Django",
    "channels": "channels",
    "daphne": "daphne",
    "uvicorn": "uvicorn",
    "channels_redis": "channels-redis",
    # redis-py 8 changed socket time-outs and pool limits: what a Redis fault does depends on it.
    "redis_py": "redis",
    "websockets": "websockets",
    "locust": "locust",
    "hdrhistogram": "hdrhistogram",
}

#: Fingerprint keys that must be equal before two results are compared.
CHECKED_KEYS: Final = (
    "hostname",
    "cpu_model",
    "cpu_count",
    "kernel",
    "python_version",
    "packages",
    "redis_server",
)

_SUBPROCESS_TIMEOUT_S: Final = 5.0
_PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Where and with what a run was made.

    Attributes:
        timestamp_utc: collection time, ISO 8601 with ``+00:00``.
        python_version: ``platform.python_version()``.
        python_implementation: e.g. ``CPython``.
        python_executable: ``sys.executable``.
        packages: version of each of :data:`TRACKED_PACKAGES`, or
            ``"not installed"``.
        redis_server: redis-server version, or ``"not available: <reason>"``.
        cpu_model: CPU model name from ``/proc/cpuinfo`` (or the platform).
        cpu_count: logical CPUs in the machine.
        cpu_affinity: CPUs this process may run on, None if unknown.
        os: ``platform.system()``.
        kernel: ``platform.release()``.
        machine: ``platform.machine()``.
        hostname: ``socket.gethostname()``.
        git_commit: commit of the project checkout, None outside git.
        git_dirty: True if the checkout has uncommitted changes, None if unknown.
        argv: exact command line.
        seed: random seed of the run, None if none was used.
        layer_settings: per channel layer the run used, the settings that change its behaviour under faults
            (capacity, expiry, Redis time-outs and pool cap); empty when it used none or ran against a target.
    """

    timestamp_utc: str
    python_version: str
    python_implementation: str
    python_executable: str
    packages: dict[str, str]
    redis_server: str
    cpu_model: str
    cpu_count: int
    cpu_affinity: int | None
    os: str
    kernel: str
    machine: str
    hostname: str
    git_commit: str | None
    git_dirty: bool | None
    argv: list[str] = field(default_factory=list)
    seed: int | None = None
    layer_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return asdict(self)

    def checked(self) -> dict[str, Any]:
        """Return the subset of :data:`CHECKED_KEYS` used to decide comparability."""
        d = self.to_dict()
        return {k: d[k] for k in CHECKED_KEYS}


def package_versions(packages: Mapping[str, str] = TRACKED_PACKAGES) -> dict[str, str]:
    """Return ``{key: version}`` for each distribution, ``"not installed"`` when absent."""
    versions: dict[str, str] = {}
    for key, dist in packages.items():
        try:
            versions[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[key] = NOT_INSTALLED
    return versions


_REDIS_VERSION = re.compile(r"\bv=(\S+)")


def redis_server_version(binary: str | os.PathLike[str] | None, *, timeout_s: float = _SUBPROCESS_TIMEOUT_S) -> str:
    """Run ``<binary> --version`` and return the version (``v=`` field).

    Returns:
        The version string, the raw first output line if it has no ``v=``
        field, or ``"not available: <reason>"`` when there is no binary or it
        cannot be run: a fingerprint must never abort a run.
    """
    if binary is None:
        return "not available: no redis-server binary given"
    path = shutil.which(os.fspath(binary))
    if path is None:
        return f"not available: {os.fspath(binary)} not found or not executable"
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"not available: running {path} --version failed: {exc}"
    out = proc.stdout.strip() or proc.stderr.strip()
    if proc.returncode != 0:
        return f"not available: {path} --version exited {proc.returncode}: {out[:200]}"
    match = _REDIS_VERSION.search(out)
    if match:
        return match.group(1)
    return out.splitlines()[0][:200] if out else "not available: empty --version output"


def cpu_model() -> str:
    """Return the CPU model name (Linux ``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("model name", "Processor", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _git(root: Path, *args: str) -> str | None:
    # Only a checkout whose top is ``root`` counts: an installed copy that happens to sit inside some other
    # repository (a virtualenv in a project, a temp dir under a checkout) must not report that repository's commit.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.resolve().parent)}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT_S,
            check=False,
            env=env,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(root: str | os.PathLike[str] = _PROJECT_ROOT) -> tuple[str | None, bool | None]:
    """Return ``(commit, dirty)`` of the git checkout at ``root``; ``(None, None)`` outside git."""
    path = Path(root)
    commit = _git(path, "rev-parse", "--verify", "HEAD")
    if commit is None:
        return None, None
    status = _git(path, "status", "--porcelain")
    return commit.strip(), (None if status is None else bool(status.strip()))


def _affinity() -> int | None:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return len(getter(0))
    except OSError:
        return None


def collect_fingerprint(
    *,
    redis_server_bin: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    argv: Sequence[str] | None = None,
    project_root: str | os.PathLike[str] = _PROJECT_ROOT,
    now: dt.datetime | None = None,
    layer_settings: Mapping[str, dict[str, Any]] | None = None,
) -> Fingerprint:
    """Collect the fingerprint of this process's environment.

    Args:
        redis_server_bin: redis-server binary to ask for its version; None
            records ``"not available"``.
        seed: the run's random seed.
        argv: command line to record; defaults to ``sys.argv``.
        project_root: checkout whose git commit is recorded.
        now: timestamp to record (tests pass a fixed one); defaults to now.
        layer_settings: the settings of each channel layer the run used.
    """
    timestamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    commit, dirty = git_state(project_root)
    return Fingerprint(
        timestamp_utc=timestamp.isoformat(),
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        python_executable=sys.executable,
        packages=package_versions(),
        redis_server=redis_server_version(redis_server_bin),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 0,
        cpu_affinity=_affinity(),
        os=platform.system(),
        kernel=platform.release(),
        machine=platform.machine(),
        hostname=socket.gethostname(),
        git_commit=commit,
        git_dirty=dirty,
        argv=list(sys.argv if argv is None else argv),
        seed=seed,
        layer_settings=dict(layer_settings or {}),
    )
