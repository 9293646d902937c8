from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from reference_app.timeclock.models import Terminal


def kiosk(request: HttpRequest, terminal_id: int) -> HttpResponse:
    # The page itself holds no secret: the socket checks the token the operator opens it with (?token=...).
    terminal = get_object_or_404(Terminal, pk=terminal_id)
    return render(request, "timeclock/kiosk.html", {"terminal": terminal})
