from __future__ import annotations

from django.apps import AppConfig


class TimeclockConfig(AppConfig):
    name = "reference_app.timeclock"
    label = "timeclock"
    default_auto_field = "django.db.models.BigAutoField"
