"""The locustfile of channels-harness: ``locust -f harness/locustfile.py --harness-kind echo ...``.

It only wires things together: the ``--harness-*`` options, the per-process collector and the
master-side merge live in :mod:`harness.locust_users` and :mod:`harness.aggregation`. Locust finds
the user classes imported here; ``--harness-kind`` picks the ones to run unless user classes are
named on the command line. The user-count shape is exposed only when ``HARNESS_USER_STEPS`` is set,
since Locust would otherwise apply it to every run. See ``docs/generator.md``.
"""

from __future__ import annotations

# Locust monkey-patches the standard library with gevent when imported, so it comes first.
import locust  # isort: split

import os

from harness.locust_users import (
    BroadcastUser,
    ChatUser,
    ConnectStormUser,
    EchoUser,
    KioskUser,
    NotificationListenerUser,
    NotificationPublisherUser,
    add_arguments,
    listen,
    on_init,
)

__all__ = [
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
    from harness.locust_users import UserStepsShape

    __all__ += ["UserStepsShape"]
