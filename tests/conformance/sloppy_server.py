"""A deliberately non-conforming WebSocket echo server, so the tests can see the checks report FAILED.

It accepts any upgrade (even a malformed key), echoes data frames whatever their RSV bits or UTF-8, ignores
reserved opcodes instead of failing, and never answers pings. Built on our own frame reader, not a library.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from harness.conformance.frames import FrameReader, Opcode, encode_frame

__all__ = ["serve_sloppy"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        writer.close()
        return
    key = b""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    frames = FrameReader(allow_masked=True)
    message = bytearray()
    opcode = Opcode.BINARY
    try:
        while data := await reader.read(65536):
            frames.receive_data(data)
            for frame in frames.frames_received():
                if frame.opcode == Opcode.CLOSE:
                    writer.write(encode_frame(Opcode.CLOSE, b"\x03\xe8", mask_key=None))
                    await writer.drain()
                    writer.close()
                    return
                if frame.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                    continue  # pings and reserved opcodes alike: silently ignored
                if frame.opcode != Opcode.CONTINUATION:
                    opcode, message = Opcode(frame.opcode), bytearray()
                message += frame.payload
                if frame.fin:
                    writer.write(encode_frame(opcode, bytes(message), mask_key=None))
            await writer.drain()
    except OSError:
        pass
    writer.close()


async def serve_sloppy(host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(_handle, host, port)
