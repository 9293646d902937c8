from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

__all__ = ["ROOM_SLUG_PATTERN", "Room"]

#: Room slugs become part of a channel-layer group name, which allows only ASCII letters, digits, '-', '_' and '.'.
ROOM_SLUG_PATTERN = r"[A-Za-z0-9_-]{1,64}"


class Room(models.Model):
    slug = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(rf"^{ROOM_SLUG_PATTERN}$", "letters, digits, - or _")],
    )
    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug
