"""Autobahn|Testsuite's fuzzing-client cases 1.x-13.x (517), rebuilt as data for our own Python 3 driver.

Each case keeps its Autobahn id and the behaviour Autobahn expects; descriptions are ours. The payloads of the
12.x/13.x compression cases come from ``datasets`` (synthetic, generated here) rather than Autobahn's files.
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.conformance.frames import Opcode, close_payload, encode_frame
from harness.conformance.model import (
    Case,
    CloseExpect,
    DeflateOffer,
    EchoRounds,
    Expect,
    Observation,
    SendBatch,
    SendFrame,
    SendMessage,
    SendRaw,
    Sleep,
    Step,
)
from harness.conformance.utf8 import utf8_sequence_groups

__all__ = ["autobahn_cases"]

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
PING, PONG, CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE

_CLEAN_1000 = CloseExpect(closed_by_client=True, codes=(1000,), require_clean=True)
_FAIL_1002 = CloseExpect(closed_by_client=False, codes=(1002,), require_clean=False)
_FAIL_1007 = CloseExpect(closed_by_client=False, codes=(1007,), require_clean=False)
_HELLO = b"Hello, world!"
_KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε" with U+1F79, 11 bytes
_BAD_UTF8 = _KOSME + b"\xed\xa0\x80" + b"edited"


def _text(payload: bytes) -> Observation:
    return Observation("text", payload)


def _binary(payload: bytes) -> Observation:
    return Observation("binary", payload)


def _data(opcode: int, payload: bytes) -> Observation:
    return _binary(payload) if opcode == BINARY else _text(payload)


def _pong(payload: bytes) -> Observation:
    return Observation("pong", payload)


def _src(case_id: str, section: str) -> str:
    return f"Autobahn {case_id}; RFC 6455 §{section}"


def _echo(
    case_id: str,
    category: str,
    section: str,
    description: str,
    steps: tuple[Step, ...],
    ok: tuple[Observation, ...],
    *,
    expectation: str = "The server echoes the message(s); the client then closes cleanly with 1000.",
    slow: bool = False,
    timeout_units: float = 10.0,
) -> Case:
    return Case(
        id=case_id,
        category=category,
        source=_src(case_id, section),
        description=description,
        expectation=expectation,
        steps=steps,
        expect=Expect(ok=ok, close=_CLEAN_1000),
        slow=slow,
        timeout_units=timeout_units,
    )


def _fail(
    case_id: str,
    category: str,
    section: str,
    description: str,
    steps: tuple[Step, ...],
    *,
    ok: tuple[Observation, ...] = (),
    non_strict: tuple[tuple[Observation, ...], ...] = (),
    close: CloseExpect = _FAIL_1002,
    fail_fast_step: int | None = None,
) -> Case:
    codes = "/".join(str(c) for c in close.codes)
    return Case(
        id=case_id,
        category=category,
        source=_src(case_id, section),
        description=description,
        expectation=f"The server fails the connection: close {codes}, or drops TCP.",
        steps=steps,
        expect=Expect(ok=ok, close=close, non_strict=non_strict, fail_fast_step=fail_fast_step),
    )


def _framing() -> Iterator[Case]:
    sizes = (0, 125, 126, 127, 128, 65535, 65536)
    for sub, (opcode, fill, kind) in enumerate(((TEXT, b"*", "text"), (BINARY, b"\xfe", "binary")), start=1):
        for i, n in enumerate(sizes, start=1):
            payload = fill * n
            obs = _data(opcode, payload)
            yield _echo(
                f"1.{sub}.{i}",
                "1 Framing",
                "5.2",
                f"One {kind} message of {n} bytes; the length sits at a 7/16/64-bit encoding edge.",
                (SendFrame(opcode, payload),),
                (obs,),
            )
        payload = fill * 65536
        yield _echo(
            f"1.{sub}.8",
            "1 Framing",
            "5.2",
            f"One {kind} message of 65536 bytes, its frame written in 997-byte pieces.",
            (SendFrame(opcode, payload, chop=997),),
            (_data(opcode, payload),),
        )


def _pings() -> Iterator[Case]:
    cat = "2 Pings/Pongs"
    binary = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    for case_id, desc, payload in (
        ("2.1", "A ping with no payload.", b""),
        ("2.2", "A ping with a short text payload.", _HELLO),
        ("2.3", "A ping with a short binary payload.", binary),
        ("2.4", "A ping with the largest allowed payload, 125 bytes.", b"\xfe" * 125),
    ):
        yield Case(
            case_id,
            cat,
            _src(case_id, "5.5.2"),
            desc,
            "A pong with the same payload, then a clean close.",
            (SendFrame(PING, payload),),
            Expect(ok=(_pong(payload),), close=_CLEAN_1000),
        )
    yield _fail(
        "2.5",
        cat,
        "5.5",
        "A ping with 126 bytes of payload, over the control-frame limit.",
        (SendFrame(PING, b"\xfe" * 126),),
    )
    yield Case(
        "2.6",
        cat,
        _src("2.6", "5.5.2"),
        "A ping with a 125-byte payload written one byte per write.",
        "A pong with the same payload, then a clean close.",
        (SendFrame(PING, b"\xfe" * 125, chop=1),),
        Expect(ok=(_pong(b"\xfe" * 125),), close=_CLEAN_1000),
    )
    yield Case(
        "2.7",
        cat,
        _src("2.7", "5.5.3"),
        "An unsolicited pong with no payload.",
        "Nothing in return; the connection stays usable and closes cleanly.",
        (SendFrame(PONG, b""),),
        Expect(ok=(), close=_CLEAN_1000),
    )
    yield Case(
        "2.8",
        cat,
        _src("2.8", "5.5.3"),
        "An unsolicited pong with a payload.",
        "Nothing in return; the connection stays usable and closes cleanly.",
        (SendFrame(PONG, b"unsolicited pong payload"),),
        Expect(ok=(), close=_CLEAN_1000),
    )
    yield Case(
        "2.9",
        cat,
        _src("2.9", "5.5.3"),
        "An unsolicited pong, then a ping.",
        "Only the ping is answered.",
        (SendFrame(PONG, b"unsolicited pong payload"), SendFrame(PING, b"ping payload")),
        Expect(ok=(_pong(b"ping payload"),), close=_CLEAN_1000),
    )
    payloads = [f"payload-{i}".encode() for i in range(10)]
    for case_id, chop, how in (("2.10", None, "back to back"), ("2.11", 1, "one byte per write")):
        yield Case(
            case_id,
            cat,
            _src(case_id, "5.5.2"),
            f"Ten pings with distinct payloads, sent {how}.",
            "Ten pongs in the same order (answering only the latest ping would be NON-STRICT).",
            tuple(SendFrame(PING, p, chop=chop) for p in payloads),
            Expect(
                ok=tuple(_pong(p) for p in payloads),
                close=_CLEAN_1000,
                non_strict=((_pong(payloads[-1]),),),
            ),
        )


def _reserved_bits() -> Iterator[Case]:
    cat = "3 Reserved Bits"
    yield _fail(
        "3.1",
        cat,
        "5.2",
        "A text message with RSV1 set and no extension negotiated.",
        (SendFrame(TEXT, _HELLO, rsv=4),),
    )
    variants = (
        ("3.2", 2, "in one write", None, True),
        ("3.3", 3, "one write per frame", None, False),
        ("3.4", 4, "one byte per write", 1, False),
    )
    for case_id, rsv, how, chop, together in variants:
        frames = (SendFrame(TEXT, _HELLO), SendFrame(TEXT, _HELLO, rsv=rsv), SendFrame(PING, b""))
        steps: tuple[Step, ...]
        if together:
            steps = (SendBatch(frames),)
        else:
            steps = tuple(SendFrame(f.opcode, f.payload, rsv=f.rsv, chop=chop) for f in frames)
        yield _fail(
            case_id,
            cat,
            "5.2",
            f"A valid text message, the same with RSV={rsv}, then a ping, {how}.",
            steps,
            ok=(_text(_HELLO),),
            non_strict=((),),
        )
    yield _fail("3.5", cat, "5.2", "A binary message with RSV=5.", (SendFrame(BINARY, bytes(range(256)), rsv=5),))
    yield _fail("3.6", cat, "5.2", "A ping with RSV=6.", (SendFrame(PING, _HELLO, rsv=6),))
    yield _fail("3.7", cat, "5.2", "A close frame with RSV=7.", (SendFrame(CLOSE, close_payload(1000), rsv=7),))


def _opcodes() -> Iterator[Case]:
    cat = "4 Opcodes"
    for sub, first, kind in ((1, 3, "data"), (2, 11, "control")):
        base = f"4.{sub}"
        yield _fail(
            f"{base}.1",
            cat,
            "5.2",
            f"A frame with the reserved {kind} opcode {first} and no payload.",
            (SendFrame(first, b""),),
        )
        yield _fail(
            f"{base}.2",
            cat,
            "5.2",
            f"A frame with the reserved {kind} opcode {first + 1} and a payload.",
            (SendFrame(first + 1, b"reserved opcode payload"),),
        )
        for k, payload in ((3, b""), (4, b"reserved opcode payload"), (5, b"reserved opcode payload")):
            op = first + k - 1
            yield _fail(
                f"{base}.{k}",
                cat,
                "5.2",
                f"A valid text message, a frame with the reserved {kind} opcode {op}, then a ping.",
                (SendFrame(TEXT, _HELLO), SendFrame(op, payload), SendFrame(PING, b"")),
                ok=(_text(_HELLO),),
                non_strict=((),),
            )


def _fragmentation() -> Iterator[Case]:
    cat = "5 Fragmentation"
    yield _fail(
        "5.1",
        cat,
        "5.4",
        "A ping split into two fragments (control frames must not be fragmented).",
        (SendFrame(PING, b"fragment1", fin=False), SendFrame(CONT, b"fragment2")),
    )
    yield _fail(
        "5.2",
        cat,
        "5.4",
        "A pong split into two fragments.",
        (SendFrame(PONG, b"fragment1", fin=False), SendFrame(CONT, b"fragment2")),
    )
    two = (SendFrame(TEXT, b"fragment1", fin=False), SendFrame(CONT, b"fragment2"))
    whole = _text(b"fragment1fragment2")
    yield _echo("5.3", cat, "5.4", "A text message in two fragments, written in one go.", (SendBatch(two),), (whole,))
    yield _echo("5.4", cat, "5.4", "A text message in two fragments, one write per frame.", two, (whole,))
    yield _echo(
        "5.5",
        cat,
        "5.4",
        "A text message in two fragments, one byte per write.",
        tuple(SendFrame(f.opcode, f.payload, fin=f.fin, chop=1) for f in two),
        (whole,),
    )
    three = (two[0], SendFrame(PING, b"ping payload"), two[1])
    obs = (_pong(b"ping payload"), whole)
    yield _echo(
        "5.6",
        cat,
        "5.4",
        "Two text fragments with a ping between them, written in one go.",
        (SendBatch(three),),
        obs,
    )
    yield _echo("5.7", cat, "5.4", "Two text fragments with a ping between them, one write per frame.", three, obs)
    yield _echo(
        "5.8",
        cat,
        "5.4",
        "Two text fragments with a ping between them, one byte per write.",
        tuple(SendFrame(f.opcode, f.payload, fin=f.fin, chop=1) for f in three),
        obs,
    )
    ids = iter(range(9, 15))
    for fin in (True, False):
        frames = (SendFrame(CONT, b"non-continuation payload", fin=fin), SendFrame(TEXT, _HELLO))
        what = "final" if fin else "non-final"
        for how, steps in (
            ("written in one go", (SendBatch(frames),)),
            ("one write per frame", frames),
            ("one byte per write", tuple(SendFrame(f.opcode, f.payload, fin=f.fin, chop=1) for f in frames)),
        ):
            yield _fail(
                f"5.{next(ids)}",
                cat,
                "5.4",
                f"A {what} continuation frame with nothing to continue, then a text message, {how}.",
                steps,
            )
    yield _fail(
        "5.15",
        cat,
        "5.4",
        "A two-fragment text message, then a continuation that starts nothing, then a new text fragment.",
        (
            SendFrame(TEXT, b"fragment1", fin=False),
            SendFrame(CONT, b"fragment2"),
            SendFrame(CONT, b"fragment3", fin=False),
            SendFrame(TEXT, b"fragment4"),
        ),
        ok=(whole,),
        non_strict=((),),
    )
    for case_id, first_fin in (("5.16", False), ("5.17", True)):
        group = (
            SendFrame(CONT, b"fragment1", fin=first_fin),
            SendFrame(TEXT, b"fragment2", fin=False),
            SendFrame(CONT, b"fragment3"),
        )
        yield _fail(
            case_id,
            cat,
            "5.4",
            "Twice: a stray continuation frame, then a text fragment, then a continuation.",
            group + group,
        )
    yield _fail(
        "5.18",
        cat,
        "5.4",
        "A text fragment followed by a second text frame instead of a continuation.",
        (SendFrame(TEXT, b"fragment1", fin=False), SendFrame(TEXT, b"fragment2")),
    )
    f = [SendFrame(TEXT if i == 1 else CONT, f"fragment{i}".encode(), fin=i == 5) for i in range(1, 6)]
    p1, p2 = SendFrame(PING, b"pongme 1!"), SendFrame(PING, b"pongme 2!")
    ok = (_pong(b"pongme 1!"), _pong(b"pongme 2!"), _text(b"fragment1fragment2fragment3fragment4fragment5"))
    yield _echo(
        "5.19",
        cat,
        "5.4",
        "A five-fragment text message with two pings between fragments and 1-unit pauses.",
        (SendBatch((f[0], f[1], p1)), Sleep(1), SendBatch((f[2], f[3], p2)), Sleep(1), f[4]),
        ok,
    )
    yield _echo(
        "5.20",
        cat,
        "5.4",
        "As 5.19, with each frame written separately.",
        (f[0], f[1], p1, Sleep(1), f[2], f[3], p2, Sleep(1), f[4]),
        ok,
    )


def _utf8() -> Iterator[Case]:
    cat = "6 UTF-8 Handling"
    yield _echo("6.1.1", cat, "5.6", "An empty text message.", (SendFrame(TEXT, b""),), (_text(b""),))
    yield _echo(
        "6.1.2",
        cat,
        "5.6",
        "An empty text message in three empty fragments.",
        (SendFrame(TEXT, b"", fin=False), SendFrame(CONT, b"", fin=False), SendFrame(CONT, b"")),
        (_text(b""),),
    )
    yield _echo(
        "6.1.3",
        cat,
        "5.6",
        "A text message in three fragments, only the middle one non-empty.",
        (
            SendFrame(TEXT, b"", fin=False),
            SendFrame(CONT, b"middle frame payload", fin=False),
            SendFrame(CONT, b""),
        ),
        (_text(b"middle frame payload"),),
    )
    greeting = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    yield _echo(
        "6.2.1",
        cat,
        "8.1",
        "Valid multi-byte UTF-8 text in one frame.",
        (SendFrame(TEXT, greeting),),
        (_text(greeting),),
    )
    yield _echo(
        "6.2.2",
        cat,
        "8.1",
        "Valid UTF-8 text in two fragments split on a code point boundary.",
        (SendFrame(TEXT, greeting[:9], fin=False), SendFrame(CONT, greeting[9:])),
        (_text(greeting),),
    )
    yield _echo(
        "6.2.3",
        cat,
        "8.1",
        "Valid UTF-8 text in one-byte fragments (code points split across frames).",
        (SendMessage(TEXT, greeting, fragment_size=1),),
        (_text(greeting),),
    )
    yield _echo(
        "6.2.4",
        cat,
        "8.1",
        "Valid Greek text in one-byte fragments.",
        (SendMessage(TEXT, _KOSME, fragment_size=1),),
        (_text(_KOSME),),
    )
    yield _fail(
        "6.3.1",
        cat,
        "8.1",
        "Text containing an encoded UTF-16 surrogate, in one frame.",
        (SendFrame(TEXT, _BAD_UTF8),),
        close=_FAIL_1007,
    )
    yield _fail(
        "6.3.2",
        cat,
        "8.1",
        "Text containing an encoded UTF-16 surrogate, in one-byte fragments.",
        (SendMessage(TEXT, _BAD_UTF8, fragment_size=1),),
        close=_FAIL_1007,
    )
    splits = (
        (_KOSME, b"\xf4\x90\x80\x80", b"edited"),
        (_KOSME + b"\xf4", b"\x90", b"\x80\x80edited"),
    )
    for k, (a, b, c) in enumerate(splits, start=1):
        yield _fail(
            f"6.4.{k}",
            cat,
            "8.1",
            "Text in three fragments with pauses; the second makes it invalid (a code point above U+10FFFF).",
            (SendFrame(TEXT, a, fin=False), SendFrame(CONT, b, fin=False), Sleep(1), SendFrame(CONT, c)),
            close=_FAIL_1007,
            fail_fast_step=3,
        )
    for k, (a, b, c) in enumerate(splits, start=3):
        wire = encode_frame(TEXT, a + b + c)
        head = len(wire) - len(a + b + c)
        cut1, cut2 = head + len(a), head + len(a) + len(b)
        yield _fail(
            f"6.4.{k}",
            cat,
            "8.1",
            "One invalid text frame written in three pieces with pauses; the second piece makes it invalid.",
            (SendRaw(wire[:cut1]), SendRaw(wire[cut1:cut2]), Sleep(1), SendRaw(wire[cut2:])),
            close=_FAIL_1007,
            fail_fast_step=3,
        )
    for g, (title, sequences) in enumerate(utf8_sequence_groups(), start=5):
        for i, seq in enumerate(sequences, start=1):
            valid = _is_utf8(seq)
            desc = f"{title}: text payload 0x{seq.hex()} in one frame."
            if valid:
                yield _echo(f"6.{g}.{i}", cat, "8.1", desc, (SendFrame(TEXT, seq),), (_text(seq),))
            else:
                yield _fail(f"6.{g}.{i}", cat, "8.1", desc, (SendFrame(TEXT, seq),), close=_FAIL_1007)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _close_handling() -> Iterator[Case]:
    cat = "7 Close Handling"
    hello = b"Hello World!"
    close = SendFrame(CLOSE, close_payload(1000))
    basic: tuple[tuple[str, str, tuple[Step, ...], tuple[Observation, ...]], ...] = (
        ("7.1.1", "A text message, then a close.", (SendFrame(TEXT, hello), close), (_text(hello),)),
        ("7.1.2", "A close, then a second close.", (close, close), ()),
        ("7.1.3", "A close, then a ping (which must go unanswered).", (close, SendFrame(PING, hello)), ()),
        (
            "7.1.4",
            "A close, then a text message (which must not be echoed).",
            (close, SendFrame(TEXT, hello)),
            (),
        ),
        (
            "7.1.5",
            "A text fragment, a close, then the final fragment.",
            (SendFrame(TEXT, b"fragment1", fin=False), close, SendFrame(CONT, b"fragment2")),
            (),
        ),
    )
    for case_id, desc, steps, ok in basic:
        yield Case(
            case_id,
            cat,
            _src(case_id, "5.5.1"),
            desc,
            "Frames after the close are ignored; the server answers the close with 1000.",
            steps,
            # Behind ASGI the echo comes from the app, which may still be answering when the server has handled the
            # close: a lost echo is NON-STRICT, as in 7.1.6.
            Expect(ok=ok, close=_CLEAN_1000, non_strict=((),) if ok else ()),
        )
    big = b"BAsd7&jh23" * 26214 + b"Bj"
    yield Case(
        "7.1.6",
        cat,
        _src("7.1.6", "5.5.1"),
        "A 256 KiB text message, a short one, a close and a ping, all in one write.",
        "Echoes before the close are expected; dropping them is NON-STRICT.",
        (SendBatch((SendFrame(TEXT, big), SendFrame(TEXT, hello), close, SendFrame(PING, b""))),),
        Expect(ok=(_text(big), _text(hello)), close=_CLEAN_1000, non_strict=((_text(big),), ())),
    )
    lengths: tuple[tuple[str, str, bytes, CloseExpect], ...] = (
        ("7.3.1", "A close frame with an empty payload.", b"", _CLEAN_1000),
        (
            "7.3.2",
            "A close frame with a 1-byte payload (a code needs 2).",
            b"a",
            CloseExpect(closed_by_client=True, codes=(1002,), require_clean=False),
        ),
        ("7.3.3", "A close frame with code 1000 and no reason.", close_payload(1000), _CLEAN_1000),
        (
            "7.3.4",
            "A close frame with code 1000 and a short reason.",
            close_payload(1000, hello),
            _CLEAN_1000,
        ),
        (
            "7.3.5",
            "A close frame with code 1000 and a 123-byte reason (the maximum).",
            close_payload(1000, b"*" * 123),
            _CLEAN_1000,
        ),
        (
            "7.3.6",
            "A close frame with a 126-byte payload, over the control-frame limit.",
            close_payload(1000, b"*" * 124),
            CloseExpect(closed_by_client=True, codes=(1002,), require_clean=False),
        ),
    )
    for case_id, desc, payload, expect_close in lengths:
        yield Case(
            case_id,
            cat,
            _src(case_id, "5.5.1"),
            desc,
            "A close in return: 1000 for a valid frame, 1002 (or dropped TCP) for an invalid one.",
            (SendFrame(CLOSE, payload),),
            Expect(ok=(), close=expect_close),
        )
    yield Case(
        "7.5.1",
        cat,
        _src("7.5.1", "5.5.1, 8.1"),
        "A close frame whose reason is not valid UTF-8.",
        "The server fails the connection with 1007, or drops TCP.",
        (SendFrame(CLOSE, close_payload(1000, _BAD_UTF8)),),
        Expect(ok=(), close=CloseExpect(closed_by_client=True, codes=(1007,), require_clean=False)),
    )
    valid = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999)
    for i, code in enumerate(valid, start=1):
        yield Case(
            f"7.7.{i}",
            cat,
            _src(f"7.7.{i}", "7.4.1"),
            f"A close frame with the valid code {code}.",
            f"A clean close echoing {code} or answering 1000.",
            (SendFrame(CLOSE, close_payload(code)),),
            Expect(
                ok=(),
                close=CloseExpect(closed_by_client=True, codes=(1000, code), require_clean=True),
                wrong_code_fails=True,
            ),
        )
    invalid = (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999)
    for i, code in enumerate(invalid, start=1):
        yield Case(
            f"7.9.{i}",
            cat,
            _src(f"7.9.{i}", "7.4.1, 7.4.2"),
            f"A close frame with the invalid code {code}.",
            "The server answers with 1002, or drops TCP.",
            (SendFrame(CLOSE, close_payload(code)),),
            Expect(
                ok=(),
                close=CloseExpect(closed_by_client=True, codes=(1002,), require_clean=False),
                wrong_code_fails=True,
            ),
        )
    for i, code in enumerate((5000, 65535), start=1):
        yield Case(
            f"7.13.{i}",
            cat,
            _src(f"7.13.{i}", "7.4.2"),
            f"A close frame with the out-of-range code {code}.",
            "The spec leaves this open; the outcome is recorded.",
            (SendFrame(CLOSE, close_payload(code)),),
            Expect(
                ok=(),
                close=CloseExpect(closed_by_client=True, codes=(1000, 1002, code), require_clean=False),
                informational=True,
            ),
        )


def _limits() -> Iterator[Case]:
    cat = "9 Limits/Performance"
    big_sizes = (65536, 262144, 1048576, 4194304, 8388608, 16777216)
    for sub, (opcode, fill, kind) in enumerate(((TEXT, b"*", "text"), (BINARY, b"\xfe", "binary")), start=1):
        for i, n in enumerate(big_sizes, start=1):
            payload = fill * n
            yield _echo(
                f"9.{sub}.{i}",
                cat,
                "5.4",
                f"One {kind} message of {n} bytes in one frame.",
                (SendFrame(opcode, payload),),
                (_data(opcode, payload),),
                slow=True,
                timeout_units=10 + n / 1048576 * 5,
            )
    frag_sizes = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
    for sub, (opcode, fill, kind) in enumerate(((TEXT, b"*", "text"), (BINARY, b"\xfe", "binary")), start=3):
        payload = fill * 4194304
        for i, frag in enumerate(frag_sizes, start=1):
            yield _echo(
                f"9.{sub}.{i}",
                cat,
                "5.4",
                f"A 4 MiB {kind} message in fragments of {frag} bytes.",
                (SendMessage(opcode, payload, fragment_size=frag),),
                (_data(opcode, payload),),
                slow=True,
                timeout_units=60,
            )
    chops = (64, 128, 256, 512, 1024, 2048)
    for sub, (opcode, fill, kind) in enumerate(((TEXT, b"*", "text"), (BINARY, b"\xfe", "binary")), start=5):
        payload = fill * 1048576
        for i, chop in enumerate(chops, start=1):
            yield _echo(
                f"9.{sub}.{i}",
                cat,
                "5.4",
                f"A 1 MiB {kind} message written in {chop}-byte pieces.",
                (SendFrame(opcode, payload, chop=chop),),
                (_data(opcode, payload),),
                slow=True,
                timeout_units=60,
            )
    rtt_sizes = (0, 16, 64, 256, 1024, 4096)
    for sub, binary in ((7, False), (8, True)):
        kind = "binary" if binary else "text"
        for i, n in enumerate(rtt_sizes, start=1):
            yield _echo(
                f"9.{sub}.{i}",
                cat,
                "5.4",
                f"1000 {kind} messages of {n} bytes, each after the last echo.",
                (EchoRounds(1000, n, binary),),
                (Observation("rounds", b"1000"),),
                slow=True,
                timeout_units=60,
            )


def _auto_fragmentation() -> Iterator[Case]:
    payload = b"*" * 65536
    yield _echo(
        "10.1.1",
        "10 Misc",
        "5.4",
        "A 64 KiB text message auto-fragmented into 1300-byte frames.",
        (SendMessage(TEXT, payload, fragment_size=1300),),
        (_text(payload),),
    )


#: (size, count, timeout in units, auto-fragment size) for each 12.x.y / 13.x.y, y = position + 1.
_DEFLATE_SIZES: tuple[tuple[int, int, float, int], ...] = (
    (16, 1000, 60, 0),
    (64, 1000, 60, 0),
    (256, 1000, 120, 0),
    (1024, 1000, 240, 0),
    (4096, 1000, 480, 0),
    (8192, 1000, 480, 0),
    (16384, 1000, 480, 0),
    (32768, 1000, 480, 0),
    (65536, 1000, 480, 0),
    (131072, 1000, 480, 0),
    (8192, 1000, 480, 256),
    (16384, 1000, 480, 256),
    (32768, 1000, 480, 256),
    (65536, 1000, 480, 256),
    (131072, 1000, 480, 256),
    (131072, 1000, 480, 1024),
    (131072, 1000, 480, 4096),
    (131072, 1000, 480, 32768),
)
#: Cases up to this message size run by default; bigger ones belong to the opt-in ``slow`` set.
_DEFLATE_FAST_MAX = 4096

_DATASETS_12 = (("json", False), ("bitmap", True), ("prose", True), ("html", False), ("pdf", True))

_OFFERS_13: tuple[tuple[DeflateOffer, ...], ...] = (
    (DeflateOffer(),),
    (DeflateOffer(server_no_context_takeover=True),),
    (DeflateOffer(server_max_window_bits=8),),
    (DeflateOffer(server_max_window_bits=15),),
    (DeflateOffer(server_no_context_takeover=True, server_max_window_bits=8),),
    (DeflateOffer(server_no_context_takeover=True, server_max_window_bits=15),),
    (
        DeflateOffer(server_no_context_takeover=True, server_max_window_bits=8),
        DeflateOffer(server_no_context_takeover=True),
        DeflateOffer(),
    ),
)


def _deflate_case(
    case_id: str,
    category: str,
    dataset: str,
    binary: bool,
    offers: tuple[DeflateOffer, ...],
    spec: tuple[int, int, float, int],
) -> Case:
    size, count, timeout, frag = spec
    offer_text = ", ".join(f"[{o.header_value()}]" for o in offers)
    return Case(
        id=case_id,
        category=category,
        source=f"Autobahn {case_id}; RFC 7692 §7",
        description=(
            f"{count} compressed {'binary' if binary else 'text'} messages of {size} bytes from the "
            f"'{dataset}' data set, auto-fragmented at {frag or 'no'} bytes; offers {offer_text}."
        ),
        expectation="Every message echoed intact, one at a time; UNIMPLEMENTED if deflate is not negotiated.",
        steps=(EchoRounds(count, size, binary, dataset=dataset, fragment_size=frag or None),),
        expect=Expect(ok=(Observation("rounds", str(count).encode()),), close=_CLEAN_1000),
        deflate_offers=offers,
        slow=size > _DEFLATE_FAST_MAX,
        timeout_units=timeout,
    )


def _deflate() -> Iterator[Case]:
    for j, (dataset, binary) in enumerate(_DATASETS_12, start=1):
        for i, spec in enumerate(_DEFLATE_SIZES, start=1):
            yield _deflate_case(
                f"12.{j}.{i}",
                "12 WebSocket Compression (different payloads)",
                dataset,
                binary,
                (DeflateOffer(),),
                spec,
            )
    for j, offers in enumerate(_OFFERS_13, start=1):
        for i, spec in enumerate(_DEFLATE_SIZES, start=1):
            yield _deflate_case(
                f"13.{j}.{i}", "13 WebSocket Compression (different parameters)", "json", False, offers, spec
            )


def autobahn_cases() -> list[Case]:
    """All 517 cases, in Autobahn's order."""
    cases: list[Case] = []
    for family in (
        _framing,
        _pings,
        _reserved_bits,
        _opcodes,
        _fragmentation,
        _utf8,
        _close_handling,
        _limits,
        _auto_fragmentation,
        _deflate,
    ):
        cases.extend(family())
    return cases
