"""Synthetic, deterministic payloads for the compression cases (12.x/13.x) and the round trips (9.7/9.8).

Autobahn ships real files (a JSON dump, an HTML page, a bitmap, a novel, a PDF). We generate stand-ins with
similar compressibility so the suite needs no data files; a result table must say the payloads differ.
"""

from __future__ import annotations

import functools
import json
import random

__all__ = ["dataset", "slice_payload"]

_SIZE = 300_000
_WORDS = (
    "der",
    "die",
    "und",
    "nicht",
    "mir",
    "ich",
    "sich",
    "mit",
    "Faust",
    "Mephistopheles",
    "Geist",
    "Welt",
    "Nacht",
    "Himmel",
    "Erde",
    "wohl",
    "doch",
    "schon",
    "Herz",
    "Tag",
    "Licht",
    "alles",
    "weiß",
    "kann",
)


def _json(rng: random.Random) -> bytes:
    rows: list[str] = []
    total = 0
    while total < _SIZE:
        row = {
            "id": rng.randrange(10**9),
            "name": rng.choice(_WORDS) * rng.randint(1, 3),
            "tags": rng.sample(_WORDS, 3),
            "score": round(rng.random() * 100, 3),
            "ok": rng.random() < 0.5,
        }
        rows.append(json.dumps(row))
        total += len(rows[-1]) + 2
    return ("[" + ",\n".join(rows) + "]").encode()[:_SIZE]


def _html(rng: random.Random) -> bytes:
    parts = ["<!DOCTYPE html><html><body>"]
    total = 0
    while total < _SIZE:
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 30)))
        parts.append(
            f'<div class="c{rng.randrange(20)}"><p>{words}</p><a href="/p/{rng.randrange(999)}">mehr</a></div>\n'
        )
        total += len(parts[-1])
    return "".join(parts).encode("ascii", "xmlcharrefreplace")[:_SIZE]


def _prose(rng: random.Random) -> bytes:
    text: list[str] = []
    total = 0
    while total < _SIZE:
        text.append(rng.choice(_WORDS) + rng.choice((" ", " ", " ", ", ", ".\n", "! ")))
        total += len(text[-1])
    # Cut on a byte boundary on purpose: Autobahn sends this set as binary, so slices may split a character.
    return "".join(text).encode()[:_SIZE]


def _bitmap(rng: random.Random) -> bytes:
    rows = bytearray()
    width = 512
    while len(rows) < _SIZE:
        y = len(rows) // width
        rows.extend(((x * y) // 64 + rng.randrange(4)) & 0xFF for x in range(width))
    return bytes(rows[:_SIZE])


def _pdf(rng: random.Random) -> bytes:
    # Mostly incompressible bytes with short text islands, like a PDF's compressed streams between objects.
    out = bytearray()
    while len(out) < _SIZE:
        out += f"{rng.randrange(999)} 0 obj\n<< /Length 2048 >>\nstream\n".encode()
        out += rng.randbytes(2048)
        out += b"\nendstream\nendobj\n"
    return bytes(out[:_SIZE])


def _ascii(rng: random.Random) -> bytes:
    return bytes(rng.randrange(0x20, 0x7F) for _ in range(_SIZE))


_MAKERS = {"json": _json, "html": _html, "prose": _prose, "bitmap": _bitmap, "pdf": _pdf, "ascii": _ascii}


@functools.cache
def dataset(name: str) -> bytes:
    """The named data set (about 300 kB), identical on every call and every machine."""
    return _MAKERS[name](random.Random(f"channels-harness/{name}"))


def slice_payload(name: str, index: int, size: int) -> bytes:
    """The ``index``-th consecutive ``size``-byte slice of a data set, wrapping around its end.

    The text sets are pure ASCII, so any slice is valid UTF-8 for a text frame.
    """
    data = dataset(name)
    start = (index * size) % len(data)
    return (data + data)[start : start + size] if size else b""
