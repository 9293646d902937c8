from __future__ import annotations

__all__ = ["user_group"]


def user_group(user_id: int) -> str:
    """The private group of one user. Derived only from the authenticated user id, never from client input."""
    return f"notify.user.{user_id}"
