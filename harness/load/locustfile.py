"""The locustfile of channels-harness: ``locust -f harness/load/locustfile.py --harness-kind echo ...``.

It only wires things together: the ``--harness-*`` options, the per-process collector and the
master-side merge live in :mod:`harness.load.options`, :mod:`harness.load.runtime` and
:mod:`harness.measure.aggregation`. Locust finds
the user classes imported here; ``--harness-kind`` picks the ones to run unless user classes are
named on the command line. The user-count shape is exposed only when ``HARNESS_USER_STEPS`` is set,
since Locust would otherwise apply it to every run. See ``docs/generator.md``.
"""

from __future__ import annotations

# Locust monkey-patches the standard library with gevent when imported, so it comes first.
import locust  # isort: split

import os

from harness.load.options import add_arguments
from harness.load.runtime import listen, on_init
from harness.load.users import (
    AppUser,
    BroadcastUser,
    ChatUser,
    ConnectStormUser,
    EchoUser,
    KioskUser,
    NotificationListenerUser,
    NotificationPublisherUser,
)

__all__ = [
    "AppUser",
    "BroadcastUser",
    "ChatUser",
    "ConnectStormUser",
    "EchoUser",
    "KioskUser",
    "NotificationListenerUser",
    "NotificationPublisherUser",
]

listen(locust.events.init_command_line_parser, add_arguments)
listen(locust.events.init, on_init)

if os.environ.get("HARNESS_USER_STEPS"):
    from harness.load.users import UserStepsShape

    __all__ += ["UserStepsShape"]
