from __future__ import annotations

from django.urls import include, path

from reference_app import views
from reference_app.chat import views as chat_views
from reference_app.health import healthz
from reference_app.notifications import api as notification_api
from reference_app.notifications import views as notification_views
from reference_app.timeclock import api as timeclock_api
from reference_app.timeclock import views as timeclock_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("reference_app.accounts.urls")),
    path("chat/", chat_views.room_list, name="chat-rooms"),
    path("chat/<slug:slug>/", chat_views.room, name="chat-room"),
    path("notifications/", notification_views.page, name="notifications"),
    path("kiosk/<int:terminal_id>/", timeclock_views.kiosk, name="kiosk"),
    path("api/notifications/", notification_api.publish, name="api-notifications"),
    path("api/timeclock/events/", timeclock_api.submit_event, name="api-timeclock-events"),
]
