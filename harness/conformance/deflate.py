"""Client-side permessage-deflate (RFC 7692) for the 12.x/13.x cases: the server's answer and the codecs."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["DeflateParams", "MessageDeflater", "MessageInflater", "parse_deflate_response"]

_TAIL = b"\x00\x00\xff\xff"


@dataclass(frozen=True)
class DeflateParams:
    """What the server's response settled (RFC 7692 §7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


def parse_deflate_response(header: str | None) -> DeflateParams | str | None:
    """Parse Sec-WebSocket-Extensions from a 101 response.

    Returns the parameters, None when the server declined compression, or an error message when the answer is
    malformed (RFC 7692 §5: the client must then fail the connection).
    """
    if not header or not header.strip():
        return None
    extensions = [e.strip() for e in header.split(",") if e.strip()]
    if len(extensions) != 1:
        return f"expected one extension, got {header!r}"
    name, *raw_params = [p.strip() for p in extensions[0].split(";")]
    if name.lower() != "permessage-deflate":
        return f"unexpected extension {name!r}"
    values: dict[str, str | None] = {}
    for param in raw_params:
        key, _, value = param.partition("=")
        key = key.strip().lower()
        if key in values:
            return f"parameter {key} repeated"
        values[key] = value.strip().strip('"') if value else None
    known = {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }
    if set(values) - known:
        return f"unknown parameters {sorted(set(values) - known)}"
    bits = {}
    for key in ("server_max_window_bits", "client_max_window_bits"):
        if key in values:
            raw = values[key]
            if raw is None or not raw.isdigit() or not 8 <= int(raw) <= 15:
                return f"{key} must be 8..15 in a response, got {raw!r}"
            bits[key] = int(raw)
    return DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in values,
        client_no_context_takeover="client_no_context_takeover" in values,
        server_max_window_bits=bits.get("server_max_window_bits", 15),
        client_max_window_bits=bits.get("client_max_window_bits", 15),
    )


class MessageDeflater:
    """Compresses whole client messages (RFC 7692 §7.2.1), keeping the LZ77 window unless told not to."""

    def __init__(self, params: DeflateParams) -> None:
        # zlib cannot write a raw stream with an 8-bit window and silently uses 9; so do we, and say so in
        # notes.
        self._wbits = max(params.client_max_window_bits, 9)
        self._reset_each = params.client_no_context_takeover
        self._obj = self._new()

    def _new(self) -> zlib._Compress:
        return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._wbits)

    def compress(self, message: bytes) -> bytes:
        if self._reset_each:
            self._obj = self._new()
        data = self._obj.compress(message) + self._obj.flush(zlib.Z_SYNC_FLUSH)
        return data[:-4] if data.endswith(_TAIL) else data


class MessageInflater:
    """Decompresses whole server messages (RFC 7692 §7.2.2)."""

    def __init__(self, params: DeflateParams, *, max_size: int) -> None:
        self._reset_each = params.server_no_context_takeover
        self._max_size = max_size
        self._obj = zlib.decompressobj(-15)

    def decompress(self, payload: bytes) -> bytes:
        if self._reset_each:
            self._obj = zlib.decompressobj(-15)
        out = self._obj.decompress(payload + _TAIL, self._max_size)
        if self._obj.unconsumed_tail:
            raise ValueError(f"decompressed message exceeds {self._max_size} bytes")
        return out
