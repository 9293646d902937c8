"""Bearer secrets (service and terminal tokens): generated once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["digest", "new_token", "token_from_authorization"]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def digest(token: str) -> str:
    # Tokens are 192 random bits, so a fast unsalted hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_authorization(value: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header, or None when the header has another form."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
