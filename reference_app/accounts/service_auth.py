"""Service-token authentication for the HTTP APIs (``Authorization: Bearer <token>``)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from reference_app.accounts.models import ServiceToken
from reference_app.tokens import digest, token_from_authorization

__all__ = ["service_token_for", "unauthorised"]


def unauthorised() -> JsonResponse:
    return JsonResponse({"error": "a valid service token is required: Authorization: Bearer <token>"}, status=401)


async def service_token_for(request: HttpRequest) -> ServiceToken | None:
    token = token_from_authorization(request.headers.get("Authorization"))
    if token is None:
        return None
    return await ServiceToken.objects.filter(token_digest=digest(token), active=True).afirst()
