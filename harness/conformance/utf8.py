"""UTF-8 decoder test sequences after Markus Kuhn's UTF-8-test.txt, grouped as Autobahn's 6.5-6.23.

Validity is not stored: the catalogue asks Python's strict decoder, which implements RFC 3629 (no surrogates,
no overlong forms, nothing above U+10FFFF), the definition RFC 6455 §8.1 points to.
"""

from __future__ import annotations

__all__ = ["utf8_sequence_groups"]

_GREEK = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε" with U+1F79, 11 bytes


def _span(first: int, stop: int, *, sep: bytes = b"") -> bytes:
    """Bytes first..stop-1, each followed by ``sep``."""
    return b"".join(bytes([b]) + sep for b in range(first, stop))


def _noncharacters() -> list[bytes]:
    # U+FFFE/U+FFFF and the last two code points of planes 1-16: valid UTF-8, never characters.
    out = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
    for plane in range(1, 17):
        for last in (0xFFFE, 0xFFFF):
            out.append(chr((plane << 16) | last).encode())
    return out


def utf8_sequence_groups() -> list[tuple[str, list[bytes]]]:
    """(title, sequences) for 6.5 ... 6.23 in order; 132 sequences in all."""
    truncated = [
        b"\xc0",
        b"\xe0\x80",
        b"\xf0\x80\x80",
        b"\xf8\x80\x80\x80",
        b"\xfc\x80\x80\x80\x80",
        b"\xdf",
        b"\xef\xbf",
        b"\xf7\xbf\xbf",
        b"\xfb\xbf\xbf\xbf",
        b"\xfd\xbf\xbf\xbf\xbf",
    ]
    high = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf"]
    low = [b"\xed\xb0\x80", b"\xed\xbf\xbf"]
    return [
        (
            "Valid UTF-8 text",
            [
                b"hello$world",
                "hello¢world".encode(),
                "hello€world".encode(),
                "hello\U00024b62world".encode(),
                _GREEK,
            ],
        ),
        ("Every prefix of a multi-byte string", [_GREEK[:i] for i in range(1, len(_GREEK) + 1)]),
        ("First sequence of each length", [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"]),
        (
            "First 5- and 6-byte sequences (beyond Unicode)",
            [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"],
        ),
        ("Last sequence of each length", [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"]),
        (
            "Last 4/5/6-byte sequences (beyond Unicode)",
            [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"],
        ),
        (
            "Other boundaries",
            [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80"],
        ),
        (
            "Stray continuation bytes",
            [
                b"\x80",
                b"\xbf",
                b"\x80\xbf",
                b"\x80\xbf\x80",
                b"\x80\xbf\x80\xbf",
                b"\x80\xbf\x80\xbf\x80",
                b"\x80\xbf\x80\xbf\x80\xbf",
                _span(0x80, 0xBF),
            ],
        ),
        (
            "Lead bytes each followed by a space",
            [_span(a, b, sep=b" ") for a, b in ((0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD))],
        ),
        ("Sequences missing their last byte", truncated),
        ("All truncated sequences concatenated", [b"".join(truncated)]),
        ("Bytes that never occur in UTF-8", [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"]),
        (
            "Overlong '/'",
            [
                b"\xc0\xaf",
                b"\xe0\x80\xaf",
                b"\xf0\x80\x80\xaf",
                b"\xf8\x80\x80\x80\xaf",
                b"\xfc\x80\x80\x80\x80\xaf",
            ],
        ),
        (
            "Largest overlong forms",
            [
                b"\xc1\xbf",
                b"\xe0\x9f\xbf",
                b"\xf0\x8f\xbf\xbf",
                b"\xf8\x87\xbf\xbf\xbf",
                b"\xfc\x83\xbf\xbf\xbf\xbf",
            ],
        ),
        (
            "Overlong NUL",
            [
                b"\xc0\x80",
                b"\xe0\x80\x80",
                b"\xf0\x80\x80\x80",
                b"\xf8\x80\x80\x80\x80",
                b"\xfc\x80\x80\x80\x80\x80",
            ],
        ),
        ("Lone UTF-16 surrogates", [*high, *low[:1], b"\xed\xbe\x80", low[1]]),
        ("Paired UTF-16 surrogates", [h + lo for h in high for lo in low]),
        ("Non-characters (valid UTF-8)", _noncharacters()),
        ("Specials block U+FFF9-U+FFFF (valid UTF-8)", [chr(c).encode() for c in range(0xFFF9, 0x10000)]),
    ]
