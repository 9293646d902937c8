from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from reference_app.chat.models import Room


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/rooms.html", {"rooms": Room.objects.all()[:500]})


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "chat/room.html", {"room": get_object_or_404(Room, slug=slug)})
