"""The checks: each tests one sentence of the Channel Layer Specification (django/channels docs/channel_layer_spec.rst).

Every check builds its own layer instances through the context, uses names no other check uses, and returns an
Outcome. Each is registered where it is defined, on its category's ``LayerCheckTable`` (``api.py`` C1, ``names.py``
C2, ``messages.py`` C3, ``delivery.py`` C4, ``capacity.py`` C5, ``expiry.py`` C6, ``groups.py`` C7, ``fairness.py``
C8); ``CHECKS`` is the tables in that order. Verdict rules are documented in docs/conformance-layers.md; known
upstream deviations live in deviations.py as data, never as branches here.
"""

from __future__ import annotations

from harness.conformance.layers.checks.api import API
from harness.conformance.layers.checks.capacity import CAPACITY
from harness.conformance.layers.checks.delivery import DELIVERY
from harness.conformance.layers.checks.expiry import EXPIRY, FLUSH
from harness.conformance.layers.checks.fairness import FAIRNESS
from harness.conformance.layers.checks.groups import GROUPS
from harness.conformance.layers.checks.messages import MESSAGES
from harness.conformance.layers.checks.names import NAMES
from harness.conformance.layers.model import LayerCheck
from harness.conformance.model import check_catalogue_order

__all__ = ["CHECKS", "check_by_id"]

_TABLES = (API, NAMES, MESSAGES, DELIVERY, CAPACITY, EXPIRY, FLUSH, GROUPS, FAIRNESS)

#: Every layer check, in run order.
CHECKS: tuple[LayerCheck, ...] = tuple(check for table in _TABLES for check in table.checks)
check_catalogue_order([check.id for check in CHECKS], "layer")


def check_by_id(check_id: str) -> LayerCheck:
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(f"no layer check {check_id!r}")
