"""An emulator for Euchner EKS electronic-key readers with the Ethernet TCP/IP interface.

The sans-I/O codec (``frames``, ``protocol``) serves both the emulated readers and a gateway that talks to
real or emulated readers. See docs/eks-emulator.md.
"""

from __future__ import annotations

from .frames import (
    READ_SERIAL,
    CommandId,
    Frame,
    FrameError,
    KeyState,
    KeyStatus,
    MalformedFrame,
    ReadReply,
    ReadRequest,
    Status,
    StatusReply,
    WriteRequest,
    decode_frame,
    key_id,
    status_kind,
)
from .protocol import ConnectionClosed, ConnectionState, EksConnection, Event, LocalProtocolError, Role

__all__ = [
    "READ_SERIAL",
    "CommandId",
    "ConnectionClosed",
    "ConnectionState",
    "EksConnection",
    "Event",
    "Frame",
    "FrameError",
    "KeyState",
    "KeyStatus",
    "LocalProtocolError",
    "MalformedFrame",
    "ReadReply",
    "ReadRequest",
    "Role",
    "Status",
    "StatusReply",
    "WriteRequest",
    "decode_frame",
    "key_id",
    "status_kind",
]
