"""The ASGI application, identical under Daphne and Uvicorn: ``reference_app.asgi:application``."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reference_app.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

from reference_app import gcpauses  # noqa: E402

# Every server and worker process loads this module: each measures its own collections from the start.
gcpauses.install()

# Django must be set up before anything imports models; the consumers below do.
django_http = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from reference_app.inprocess import ReferenceApplication  # noqa: E402
from reference_app.routing import websocket_urlpatterns  # noqa: E402
from reference_app.timeclock.consumers import PunchWorker  # noqa: E402

__all__ = ["application"]

application = ReferenceApplication(
    ProtocolTypeRouter(
        {
            "http": ASGIStaticFilesHandler(django_http),
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            "channel": ChannelNameRouter({settings.TIMECLOCK_CHANNEL: PunchWorker.as_asgi()}),
        }
    ),
    worker_channel=settings.TIMECLOCK_CHANNEL if settings.TIMECLOCK_WORKER_IN_PROCESS else None,
)
