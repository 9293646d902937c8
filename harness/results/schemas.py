"""The JSON Schemas of the documents the harness writes (result, gate, capacity) and checking a document against one."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import orjson
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

__all__ = ["SCHEMA_DIR", "check_document", "read_document", "schema_problems"]

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schema"


@lru_cache(maxsize=8)
def _validator(file_name: str) -> Any:  # a Draft202012Validator; jsonschema ships no type information
    schema = json.loads((SCHEMA_DIR / file_name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(doc: Mapping[str, Any], file_name: str, *, limit: int = 20) -> list[str]:
    """Every way ``doc`` departs from ``SCHEMA_DIR/file_name``, as ``$.cells[0].delivery.lost: ...``, in document
    order (at most ``limit``, then how many more); empty when it follows the schema."""
    errors = sorted(_validator(file_name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    lines = [f"{e.json_path}: {e.message}" for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more")
    return lines


def check_document(doc: Mapping[str, Any], kind: str, version: int, error: type[ValueError]) -> None:
    """Raise ``error`` unless ``doc`` is a ``kind`` document of ``version`` that follows ``kind-v{version}.json``;
    the message lists every problem by its place in the document."""
    if doc.get("schema_version") != version:
        raise error(f"{kind} document has schema_version {doc.get('schema_version')!r}; expected {version}")
    problems = schema_problems(doc, f"{kind}-v{version}.json")
    if problems:
        raise error(f"{kind} document does not follow {kind}-v{version}.json:\n" + "\n".join(problems))


def read_document(
    path: Path, file_name: str, check: Callable[[Mapping[str, Any]], None], error: type[ValueError]
) -> dict[str, Any]:
    """Read ``path/file_name`` (or ``path`` itself when it is a file) and ``check`` it; every failure is ``error``
    with the file's name in front."""
    file = path / file_name if path.is_dir() else path
    try:
        doc: dict[str, Any] = orjson.loads(file.read_bytes())
    except OSError as exc:
        raise error(f"{file}: cannot read: {exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise error(f"{file}: not JSON: {exc}") from exc
    try:
        check(doc)
    except error as exc:
        raise error(f"{file}: {exc}") from exc
    return doc
