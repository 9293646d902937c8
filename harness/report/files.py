"""The files of a run directory, each written by one exporter from the result document alone.

An :class:`Exporter` turns a validated result document into files in the run directory; :data:`EXPORTERS` lists
them in writing order (result.json, report.html, summary.txt, the .hgrm distributions), so a JUnit or Markdown
exporter is one more entry. Nothing is ever overwritten: a run directory that already holds a result is another run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from harness.report.histograms import metric_recorder
from harness.report.html import render_report
from harness.report.text import summary_table
from harness.results import cell_slug, validate_result

__all__ = [
    "EXPORTERS",
    "HTML",
    "JSON",
    "SUMMARY_TEXT",
    "Exporter",
    "FileExporter",
    "HgrmExporter",
    "RunFiles",
    "check_run_dir",
    "update_latest",
    "write_hgrm_files",
    "write_run",
]

_SLUG_RE: Final = re.compile(r"[^a-z0-9_-]+")


class Exporter(Protocol):
    """Writes one kind of file of a run directory from a validated result document."""

    @property
    def name(self) -> str:
        """What it writes, for messages."""
        ...

    def targets(self, out_dir: Path) -> Sequence[Path]:
        """The paths it will create (checked before anything is written)."""
        ...

    def write(self, doc: Mapping[str, Any], out_dir: Path) -> list[Path]:
        """Write the files and return their paths; an existing file is an error, never replaced."""
        ...


def _write_new(path: Path, data: bytes) -> None:
    # "x" mode makes the existence check and the creation one step, so two runs cannot both write the file.
    with path.open("xb") as fh:
        fh.write(data)


@dataclass(frozen=True, slots=True)
class FileExporter:
    """An exporter of one file whose bytes are a function of the document."""

    name: str
    serialize: Callable[[Mapping[str, Any]], bytes]

    def targets(self, out_dir: Path) -> Sequence[Path]:
        return [out_dir / self.name]

    def write(self, doc: Mapping[str, Any], out_dir: Path) -> list[Path]:
        path = out_dir / self.name
        _write_new(path, self.serialize(doc))
        return [path]


def _json_bytes(doc: Mapping[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def _html_bytes(doc: Mapping[str, Any]) -> bytes:
    return render_report(doc).encode("utf-8")


def _summary_bytes(doc: Mapping[str, Any]) -> bytes:
    return (summary_table(doc) + "\n").encode("utf-8")


JSON: Final = FileExporter("result.json", _json_bytes)
HTML: Final = FileExporter("report.html", _html_bytes)
SUMMARY_TEXT: Final = FileExporter("summary.txt", _summary_bytes)


class HgrmExporter:
    """``hgrm/<cell>.<metric>.hgrm``: HdrHistogram percentile distributions, one per cell and metric."""

    name = "hgrm/*.hgrm"

    def targets(self, out_dir: Path) -> Sequence[Path]:
        return []  # one file per metric; each refuses to overwrite on its own

    def write(self, doc: Mapping[str, Any], out_dir: Path) -> list[Path]:
        return write_hgrm_files(doc, out_dir / "hgrm")


EXPORTERS: Final[tuple[Exporter, ...]] = (JSON, HTML, SUMMARY_TEXT, HgrmExporter())


def write_hgrm_files(doc: Mapping[str, Any], directory: Path) -> list[Path]:
    """Write ``<cell>.<metric>.hgrm`` for every metric of every cell, from the encoded histograms in ``doc``.

    Fan-out by group size adds ``<cell>.fanout.g<size>.hgrm``. Existing files are not overwritten.

    Returns:
        The paths written, in cell order.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for index, cell in enumerate(doc["cells"]):
        slug = cell_slug(index, cell)
        items: list[tuple[str, Mapping[str, Any]]] = [
            (_SLUG_RE.sub("_", name.lower()), data) for name, data in sorted(cell["metrics"].items())
        ]
        items += [(f"fanout.g{int(g['group_size'])}", g["metric"]) for g in cell.get("fanout_by_group_size", [])]
        for stem, data in items:
            path = directory / f"{slug}.{stem}.hgrm"
            _write_new(path, metric_recorder(data).percentile_distribution().encode("utf-8"))
            written.append(path)
    return written


def update_latest(out_dir: Path) -> Path:
    """Point ``<out_dir's parent>/latest`` at ``out_dir``.

    A relative symlink is replaced atomically; where symlinks cannot be made (some Windows and network file
    systems), ``latest`` is a text file holding the directory name instead.

    Raises:
        FileExistsError: if ``latest`` is a real directory, which this function will not remove.
    """
    latest = out_dir.parent / "latest"
    if latest.is_dir() and not latest.is_symlink():
        raise FileExistsError(f"{latest} is a directory, not a pointer to the newest run; move it away")
    tmp = out_dir.parent / f".latest.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(out_dir.name, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        tmp.unlink(missing_ok=True)
        tmp.write_text(out_dir.name + "\n", encoding="utf-8")
    os.replace(tmp, latest)
    return latest


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Where :func:`write_run` put things."""

    out_dir: Path
    result: Path
    report: Path
    summary: Path
    hgrm: tuple[Path, ...]
    latest: Path


def check_run_dir(out_dir: Path, exporters: Sequence[Exporter] = EXPORTERS) -> None:
    """Refuse a run directory that already holds a run's files, before a run spends minutes filling it.

    Raises:
        FileExistsError: naming the first such file.
    """
    for exporter in exporters:
        for path in exporter.targets(out_dir):
            if path.exists():
                raise FileExistsError(f"{path} already exists; a run directory holds one run, choose another --out")


def write_run(doc: Mapping[str, Any], out_dir: Path, exporters: Sequence[Exporter] = EXPORTERS) -> RunFiles:
    """Validate ``doc``, write every exporter's files into ``out_dir``, then point ``latest`` at it.

    ``out_dir`` may already exist (the runner writes the cells' generator files and stack logs into it while
    running), but must hold none of the exporters' files yet.

    Raises:
        ResultValidationError: if ``doc`` does not follow the schema; nothing is written then.
        FileExistsError: if a file an exporter writes already exists in ``out_dir``; nothing is written then.
    """
    validate_result(doc)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_run_dir(out_dir, exporters)
    written = {exporter.name: exporter.write(doc, out_dir) for exporter in exporters}
    latest = update_latest(out_dir)
    return RunFiles(
        out_dir,
        out_dir / "result.json",
        out_dir / "report.html",
        out_dir / "summary.txt",
        tuple(written.get(HgrmExporter.name, [])),
        latest,
    )
