"""The EKS reader gateway: readers' key inserts become punch events on the timeclock worker channel.

Run it with ``python -m reference_app eks_gateway`` (docs/eks.md#gateway).
"""

from __future__ import annotations

from reference_app.gateway.backoff import Backoff, BackoffPolicy
from reference_app.gateway.client import ClientConfig, EndReason, ReaderMemory, ReaderSession, SessionResult
from reference_app.gateway.service import GatewayConfig, GatewayService, load_targets, select_shard
from reference_app.gateway.stats import GatewayStats, ReaderState, ReaderTarget
from reference_app.gateway.status import StatusServer
from reference_app.gateway.supervisor import ReaderSupervisor

__all__ = [
    "Backoff",
    "BackoffPolicy",
    "ClientConfig",
    "EndReason",
    "GatewayConfig",
    "GatewayService",
    "GatewayStats",
    "ReaderMemory",
    "ReaderSession",
    "ReaderState",
    "ReaderSupervisor",
    "ReaderTarget",
    "SessionResult",
    "StatusServer",
    "load_targets",
    "select_shard",
]
