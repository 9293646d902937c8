"""Wire checks Autobahn lacks: the opening handshake, size limits at the boundary, keepalive and timeouts.

Handshake requests are raw HTTP with ``{host}`` and ``{path}`` filled in at run time, so they can carry what
no client library would send (missing headers, smuggling bytes).
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.conformance.frames import LengthForm, Opcode, encode_frame
from harness.conformance.model import (
    Case,
    CloseExpect,
    Expect,
    HandshakeProbe,
    Observation,
    SendFrame,
    SendMessage,
    SendRaw,
    Sleep,
    WaitServerPing,
)

__all__ = ["handshake_cases", "keepalive_cases", "limit_cases"]

_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
_CLEAN_1000 = CloseExpect(closed_by_client=True, codes=(1000,), require_clean=True)
_BASE = (
    ("Host", "{host}"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", _KEY),
    ("Sec-WebSocket-Version", "13"),
)


def _request(
    headers: tuple[tuple[str, str], ...] = _BASE,
    *,
    drop: str | None = None,
    replace: dict[str, str] | None = None,
    add: tuple[tuple[str, str], ...] = (),
    request_line: str = "GET {path} HTTP/1.1",
) -> bytes:
    lines = [request_line]
    for name, value in headers:
        if name == drop:
            continue
        lines.append(f"{name}: {(replace or {}).get(name, value)}")
    lines.extend(f"{n}: {v}" for n, v in add)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _hs(
    case_id: str,
    section: str,
    description: str,
    probe: HandshakeProbe,
    *,
    slow: bool = False,
    timeout_units: float = 3.0,
) -> Case:
    expectation = {
        "accept": "101 Switching Protocols with a correct Sec-WebSocket-Accept.",
        "reject": f"An HTTP error ({'/'.join(map(str, probe.statuses)) or '4xx'}); never 101.",
        "timeout": "The server closes the stalled connection within the case timeout.",
    }[probe.expect]
    return Case(
        case_id,
        "handshake Opening handshake",
        f"RFC 6455 §{section}",
        description,
        expectation,
        handshake=probe,
        slow=slow,
        timeout_units=timeout_units,
    )


def handshake_cases() -> Iterator[Case]:
    yield _hs("hs.1", "4.2.1", "A complete, ordinary upgrade request.", HandshakeProbe(_request(), "accept"))
    yield _hs(
        "hs.2",
        "4.2.1",
        "Connection lists another token first ('keep-alive, Upgrade'), as Firefox sends.",
        HandshakeProbe(_request(replace={"Connection": "keep-alive, Upgrade"}), "accept"),
    )
    yield _hs(
        "hs.3",
        "4.2.1",
        "Header names and the Upgrade token in unusual letter case.",
        HandshakeProbe(_request(tuple((n.upper(), "WebSocket" if n == "Upgrade" else v) for n, v in _BASE)), "accept"),
    )
    yield _hs("hs.4", "4.2.1", "No Upgrade header.", HandshakeProbe(_request(drop="Upgrade"), "reject", ()))
    yield _hs("hs.5", "4.2.1", "No Connection header.", HandshakeProbe(_request(drop="Connection"), "reject", ()))
    yield _hs(
        "hs.6",
        "4.2.1",
        "No Sec-WebSocket-Key header.",
        HandshakeProbe(_request(drop="Sec-WebSocket-Key"), "reject"),
    )
    yield _hs(
        "hs.7",
        "4.2.1",
        "No Sec-WebSocket-Version header.",
        HandshakeProbe(_request(drop="Sec-WebSocket-Version"), "reject", (400, 426)),
    )
    # 12 is a withdrawn draft number and 25 is unassigned in the IANA registry: no server speaks either.
    for i, version in ((8, "12"), (9, "25")):
        yield _hs(
            f"hs.{i}",
            "4.4",
            f"Sec-WebSocket-Version {version}, a version no server speaks.",
            HandshakeProbe(
                _request(replace={"Sec-WebSocket-Version": version}),
                "reject",
                (426,),
                required_headers=(("sec-websocket-version", "13"),),
            ),
        )
    yield _hs(
        "hs.10",
        "4.2.1",
        "A Sec-WebSocket-Key that decodes to 8 bytes instead of 16.",
        HandshakeProbe(_request(replace={"Sec-WebSocket-Key": "AAAAAAAAAAA="}), "reject"),
    )
    yield _hs(
        "hs.11",
        "4.2.1",
        "A Sec-WebSocket-Key that is not base64.",
        HandshakeProbe(_request(replace={"Sec-WebSocket-Key": "not base64 at all!!!!!!!"}), "reject"),
    )
    yield _hs(
        "hs.12",
        "4.2.1",
        "Two Sec-WebSocket-Key headers.",
        HandshakeProbe(_request(add=(("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA=="),)), "reject"),
    )
    yield _hs(
        "hs.13",
        "4.2.1",
        "An HTTP/1.0 request line (the handshake needs HTTP/1.1 or later).",
        HandshakeProbe(_request(request_line="GET {path} HTTP/1.0"), "reject", (400, 426, 505), lenient_upgrade=True),
    )
    yield _hs(
        "hs.14",
        "4.2.1",
        "POST instead of GET.",
        HandshakeProbe(_request(request_line="POST {path} HTTP/1.1"), "reject", (400, 405), lenient_upgrade=True),
    )
    yield _hs(
        "hs.15",
        "4.2.1",
        "A NUL byte inside a header value.",
        HandshakeProbe(_request(add=(("X-Probe", "a\x00b"),)), "reject"),
    )
    # CVE-2026-44546 (daphne 4.2.2): bytes that str.splitlines() treats as line ends can hide a header from
    # one
    # parser and reveal it to another. Here the only Upgrade header sits behind such a byte, so a server that
    # upgrades has read a header the request line structure does not contain.
    for i, byte in enumerate(("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"), start=16):
        yield _hs(
            f"hs.{i}",
            "4.2.1; CVE-2026-44546",
            f"The Upgrade header is hidden behind byte 0x{ord(byte):02x} inside another header's value.",
            HandshakeProbe(_request(drop="Upgrade", add=(("X-Smuggle", f"a{byte}Upgrade: websocket"),)), "reject", ()),
        )
    yield _hs(
        "hs.22",
        "4.1",
        "Only half of an upgrade request, then silence (slow handshake).",
        HandshakeProbe(_request()[:40], "timeout"),
        slow=True,
        timeout_units=30,
    )
    yield _hs(
        "hs.23",
        "4.1",
        "A TCP connection that never sends a request.",
        HandshakeProbe(b"", "timeout"),
        slow=True,
        timeout_units=30,
    )


def limit_cases(max_message_size: int | None) -> Iterator[Case]:
    """Size checks; the boundary ones need the server's configured limit and are skipped without it."""
    cat = "limits Size limits"
    fail_1009 = CloseExpect(closed_by_client=False, codes=(1009,), require_clean=False)
    fail_any = CloseExpect(closed_by_client=False, codes=(1002, 1009), require_clean=False)
    hello = b"Hello, world!"
    yield Case(
        "lim.1",
        cat,
        "RFC 6455 §5.2",
        "A frame header announcing 2^63 bytes (the top bit must be 0).",
        "The server fails the connection (1002 or 1009) or drops TCP.",
        (SendRaw(bytes([0x82, 0xFF]) + (1 << 63).to_bytes(8, "big") + b"\x00\x00\x00\x00"),),
        Expect(ok=(), close=fail_any),
    )
    yield Case(
        "lim.2",
        cat,
        "RFC 6455 §5.2, §10.4",
        "A frame header announcing 2^62 bytes, then nothing.",
        "The server refuses the size at once (1009 or 1002) or drops TCP, instead of waiting for it.",
        (SendRaw(bytes([0x82, 0xFF]) + (1 << 62).to_bytes(8, "big") + b"\x00\x00\x00\x00"),),
        Expect(ok=(), close=fail_any),
    )
    for i, form in ((3, LengthForm.BITS16), (4, LengthForm.BITS64)):
        yield Case(
            f"lim.{i}",
            cat,
            "RFC 6455 §5.2",
            f"A 13-byte text frame whose length uses the non-minimal {form.value}-bit form.",
            "Senders must use the minimal form; receivers are not told what to do. Recorded only.",
            (SendFrame(Opcode.TEXT, hello, length_form=form),),
            Expect(ok=(Observation("text", hello),), close=_CLEAN_1000, informational=True),
        )
    yield Case(
        "lim.5",
        cat,
        "RFC 6455 §5.1",
        "A text frame the client did not mask.",
        "The server fails the connection (1002) or drops TCP.",
        (SendFrame(Opcode.TEXT, hello, masked=False),),
        Expect(ok=(), close=CloseExpect(closed_by_client=False, codes=(1002,), require_clean=False)),
    )
    if max_message_size is None:
        return
    n = max_message_size
    slow = n > 4 * 1024 * 1024
    budget = 10 + n / 1048576 * 5
    yield Case(
        "lim.6",
        cat,
        "RFC 6455 §10.4",
        f"A binary message of exactly the configured limit ({n} bytes).",
        "Echoed.",
        (SendFrame(Opcode.BINARY, b"\xfe" * n),),
        Expect(ok=(Observation("binary", b"\xfe" * n),), close=_CLEAN_1000),
        slow=slow,
        timeout_units=budget,
    )
    yield Case(
        "lim.7",
        cat,
        "RFC 6455 §7.4.1, §10.4",
        f"A binary message one byte over the limit ({n + 1}).",
        "The server fails the connection with 1009 (or drops TCP).",
        (SendFrame(Opcode.BINARY, b"\xfe" * (n + 1)),),
        Expect(ok=(), close=fail_1009),
        slow=slow,
        timeout_units=budget,
    )
    half = n // 2 + 1
    yield Case(
        "lim.8",
        cat,
        "RFC 6455 §7.4.1, §10.4",
        f"A message one byte over the limit in two fragments, each under it ({half} + {n + 1 - half}).",
        "The server fails with 1009 (or drops TCP): the limit applies to messages, not frames.",
        (SendMessage(Opcode.BINARY, b"\xfe" * (n + 1), fragment_size=half),),
        Expect(ok=(), close=fail_1009),
        slow=slow,
        timeout_units=budget,
    )
    header = encode_frame(Opcode.BINARY, b"\xfe" * (n + 1))
    cut = len(header) - (n + 1)
    yield Case(
        "lim.9",
        cat,
        "RFC 6455 §10.4",
        "The header of a frame over the limit, a pause, then its payload.",
        "The server fails as soon as it reads the length (NON-STRICT if only after the payload).",
        (SendRaw(header[:cut]), Sleep(1), SendRaw(header[cut:])),
        Expect(ok=(), close=fail_1009, fail_fast_step=2),
        slow=slow,
        timeout_units=budget,
    )


def keepalive_cases() -> Iterator[Case]:
    cat = "keepalive Keepalive and timeouts"
    pings = [f"{i:03d}".encode() for i in range(100)]
    yield Case(
        "ka.1",
        cat,
        "RFC 6455 §5.5.2, §5.5.3",
        "100 pings in one burst.",
        "100 pongs in order; answering only the latest is allowed (NON-STRICT).",
        tuple(SendFrame(Opcode.PING, p) for p in pings),
        Expect(
            ok=tuple(Observation("pong", p) for p in pings),
            close=_CLEAN_1000,
            non_strict=((Observation("pong", pings[-1]),),),
        ),
    )
    yield Case(
        "ka.2",
        cat,
        "RFC 6455 §5.5",
        "Three units of silence, then a text message.",
        "The idle connection is still open and echoes.",
        (Sleep(3), SendFrame(Opcode.TEXT, b"still here")),
        Expect(ok=(Observation("text", b"still here"),), close=_CLEAN_1000),
    )
    yield Case(
        "ka.3",
        cat,
        "RFC 6455 §5.5.2",
        "Wait up to 30 units for a keepalive ping from the server.",
        "Recorded only: servers are not required to ping.",
        (WaitServerPing(30),),
        Expect(ok=(), close=_CLEAN_1000, informational=True),
        slow=True,
        timeout_units=40,
    )
    yield Case(
        "ka.4",
        cat,
        "RFC 6455 §5.5.2",
        "Never answer the server's pings and wait up to 60 units.",
        "Recorded only: a server with a ping timeout closes (usually 1011) or drops TCP.",
        (Sleep(60),),
        Expect(
            ok=(),
            close=CloseExpect(closed_by_client=False, codes=(1011, 1001, 1000), require_clean=False),
            informational=True,
        ),
        slow=True,
        timeout_units=70,
        answer_pings=False,
    )
