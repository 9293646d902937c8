"""An emulator for Euchner EKS electronic-key readers with the Ethernet TCP/IP interface.

The sans-I/O codec (``frames``, ``protocol``) serves both the emulated readers and a gateway that talks to
real or emulated readers. See docs/eks-emulator.md.
"""

from __future__ import annotations

from .control import Controller
from .control_http import ControlServer
from .device import EmulatedDevice
from .events import EventJournal, KeyEvent
from .faults import Fault, FaultKind
from .fleet import Fleet, FleetConfig, FleetError, FleetTooLarge, Shard
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
from .key import Key, KeyAction
from .protocol import ConnectionClosed, ConnectionState, EksConnection, Event, LocalProtocolError, Role
from .service_time import ServiceTime
from .timeline import Timeline
from .workload import WorkloadEvent, WorkloadFileError, replay_csv, shift_change, steady

__all__ = [
    "READ_SERIAL",
    "CommandId",
    "ConnectionClosed",
    "ConnectionState",
    "ControlServer",
    "Controller",
    "EksConnection",
    "EmulatedDevice",
    "Event",
    "EventJournal",
    "Fault",
    "FaultKind",
    "Fleet",
    "FleetConfig",
    "FleetError",
    "FleetTooLarge",
    "Frame",
    "FrameError",
    "Key",
    "KeyAction",
    "KeyEvent",
    "KeyState",
    "KeyStatus",
    "LocalProtocolError",
    "MalformedFrame",
    "ReadReply",
    "ReadRequest",
    "Role",
    "ServiceTime",
    "Shard",
    "Status",
    "StatusReply",
    "Timeline",
    "WorkloadEvent",
    "WorkloadFileError",
    "WriteRequest",
    "decode_frame",
    "key_id",
    "replay_csv",
    "shift_change",
    "status_kind",
    "steady",
]
