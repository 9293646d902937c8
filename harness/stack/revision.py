"""The app at a git revision, in its own worktree and environment: what ``harness gate --baseline REF`` compares.

Each revision is installed (not in editable mode) into a virtual environment of its own, from a ``git worktree``
checked out at that commit; the working tree, the default candidate, is installed from the repository itself with
its uncommitted changes. Installing copies the code, so what an arm serves is fixed once it is built: nothing is
rebuilt between trials, and editing the checkout during a gate changes neither arm.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["BuiltRevision", "Revision", "RevisionError", "build_revision", "repository_root", "resolve_revision"]

#: What the working tree is called where a ref would be.
WORKING_TREE: Final = "working tree"
#: A pip install that has not finished by then is stuck (an unreachable index, a lock).
_INSTALL_TIMEOUT_S: Final = 1200.0


class RevisionError(RuntimeError):
    """A revision could not be resolved or built; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Revision:
    """A revision as given and as git resolved it.

    Attributes:
        ref: what the user wrote (``main``, ``HEAD~1``, a SHA), or ``working tree``.
        commit: the full commit SHA (for the working tree: its ``HEAD``).
        dirty: the working tree has tracked changes that are not in ``commit``.
    """

    ref: str
    commit: str
    dirty: bool = False

    @property
    def working_tree(self) -> bool:
        return self.ref == WORKING_TREE

    @property
    def identity(self) -> str:
        """The commit, marked when the code also holds uncommitted changes."""
        return self.commit + ("+changes" if self.dirty else "")

    @property
    def label(self) -> str:
        return f"{self.ref} ({self.commit[:12]}{' + uncommitted changes' if self.dirty else ''})"


@dataclass(frozen=True, slots=True)
class BuiltRevision:
    """A revision installed in its own environment.

    Attributes:
        python: the environment's interpreter, which starts the app's processes.
        directory: where the environment (and the build log) lives.
        build_s: seconds the build took (0 when an earlier build was reused).
        reused: an environment built earlier for the same commit was used.
    """

    revision: Revision
    python: str
    directory: Path
    build_s: float
    reused: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "ref": self.revision.ref,
            "commit": self.revision.commit,
            "dirty": self.revision.dirty,
            "python": self.python,
            "build_s": round(self.build_s, 1),
            "reused": self.reused,
        }


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RevisionError(f"git {' '.join(args)} in {repo}: {exc}") from None
    if done.returncode != 0:
        raise RevisionError(f"git {' '.join(args)} in {repo} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def repository_root(start: Path) -> Path:
    """The top of the git repository holding ``start``."""
    return Path(_git(start, "rev-parse", "--show-toplevel"))


def resolve_revision(repo: Path, ref: str | None) -> Revision:
    """``ref`` as a commit of ``repo``; None is the working tree.

    Raises:
        RevisionError: ``ref`` names no commit.
    """
    if ref is None:
        head = _git(repo, "rev-parse", "--verify", "HEAD^{commit}")
        # Untracked files are not part of a build from the checkout unless the project lists them, and a
        # report directory inside the repository would mark every tree changed.
        changes = _git(repo, "status", "--porcelain", "--untracked-files=no")
        return Revision(WORKING_TREE, head, dirty=bool(changes))
    if not ref or ref.startswith("-"):
        raise RevisionError(f"{ref!r} is not a git revision")
    try:
        commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except RevisionError:
        raise RevisionError(f"{ref!r} names no commit in {repo} (try a branch, a tag or a SHA)") from None
    return Revision(ref, commit)


def build_revision(repo: Path, revision: Revision, envs: Path, *, reuse: bool) -> BuiltRevision:
    """Install ``revision`` of ``repo`` into an environment of its own under ``envs``.

    Args:
        reuse: take an environment an earlier call built for the same commit and Python (never for the working
            tree, whose code may have changed since).

    Raises:
        RevisionError: the worktree, the environment or the install failed; the message ends with the log's tail.
    """
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    name = f"working-tree-{tag}" if revision.working_tree else f"{revision.commit[:16]}-{tag}"
    directory = envs / name
    python = directory / "venv" / "bin" / "python"
    marker = directory / "built.json"
    if reuse and not revision.working_tree and marker.is_file() and python.exists():
        return BuiltRevision(revision, str(python), directory, 0.0, reused=True)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    log = directory / "build.log"
    t0 = time.monotonic()
    source = repo
    worktree = directory / "src"
    if not revision.working_tree:
        _git(repo, "worktree", "add", "--detach", str(worktree), revision.commit)
        source = worktree
    try:
        _step([sys.executable, "-m", "venv", str(directory / "venv")], log, "create the environment")
        _step(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", str(source)],
            log,
            f"install {revision.label}",
        )
    finally:
        if not revision.working_tree:
            _git(repo, "worktree", "remove", "--force", str(worktree))
    build_s = time.monotonic() - t0
    marker.write_text(json.dumps({"commit": revision.commit, "python": str(python), "build_s": build_s}) + "\n")
    return BuiltRevision(revision, str(python), directory, build_s, reused=False)


def _step(argv: list[str], log: Path, what: str) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            code = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=_INSTALL_TIMEOUT_S
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
        except OSError as exc:
            raise RevisionError(f"could not {what}: {exc}") from None
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        reason = f"still running after {_INSTALL_TIMEOUT_S:.0f} s" if code is None else f"exit {code}"
        raise RevisionError(f"could not {what} ({reason}); {log} ends with:\n{tail}")
