from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

__all__ = ["KEY_SERIAL_PATTERN", "Direction", "Employee", "Key", "Punch", "Terminal"]

#: An EKS key serial: the 8 bytes at key addresses 116-123, as 16 upper-case hex characters.
KEY_SERIAL_PATTERN = r"^[0-9A-F]{16}$"


class Employee(models.Model):
    number = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"{self.name} ({self.number})"


class Key(models.Model):
    serial = models.CharField(
        max_length=16,
        unique=True,
        validators=[RegexValidator(KEY_SERIAL_PATTERN, "16 upper-case hex characters")],
    )
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="keys")
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.serial


class Terminal(models.Model):
    """A kiosk terminal and the EKS reader beside it."""

    name = models.CharField(max_length=100, unique=True)
    reader_host = models.CharField(max_length=255)
    reader_port = models.PositiveIntegerField(default=2444, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    token_digest = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.name


class Direction(models.TextChoices):
    IN = "in"
    OUT = "out"


class Punch(models.Model):
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="punches")
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="punches")
    key_serial = models.CharField(max_length=16)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    inserted_at = models.DateTimeField(help_text="When the key went into the reader (from the event).")
    recorded_at = models.DateTimeField(auto_now_add=True)
    # A replayed or re-sent event carries the same id, and the unique constraint is what makes it punch only once.
    event_id = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["employee", "-inserted_at", "-id"], name="punch_latest")]
