from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "reference_app.chat"
    label = "chat"
    default_auto_field = "django.db.models.BigAutoField"
