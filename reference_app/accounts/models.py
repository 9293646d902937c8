from __future__ import annotations

from django.db import models

__all__ = ["ServiceToken"]


class ServiceToken(models.Model):
    """A machine credential for the HTTP publish APIs; only the digest of the token is stored."""

    name = models.CharField(max_length=100, unique=True)
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name
