from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import CommandError, call_command

from reference_app.demo.generate import DemoSizes, generate, wipe
from reference_app.timeclock.models import Key, Terminal
from reference_app.tokens import digest

pytestmark = pytest.mark.django_db


def strip_time(data: dict) -> dict:
    """Drop the creation time and database ids, which a second run into the same tables cannot repeat."""
    return {
        k: [{f: x for f, x in item.items() if f != "id"} for item in v] if isinstance(v, list) else v
        for k, v in data.items()
        if k != "created_at"
    }


def test_same_seed_same_data_and_every_credential_works() -> None:
    sizes = DemoSizes(users=5, rooms=2, employees=3, terminals=2, reader_base_port=30000)
    first = generate(7, sizes)
    wipe()
    second = generate(7, sizes)
    assert strip_time(first) == strip_time(second)
    wipe()
    third = generate(8, sizes)
    assert strip_time(third) != strip_time(first)
    user = third["users"][0]
    assert get_user_model().objects.get(username=user["username"]).check_password(user["password"])
    session = SessionStore(session_key=user["session"]).load()
    assert session["_auth_user_id"] == str(user["id"])
    terminal = third["terminals"][1]
    assert Terminal.objects.get(pk=terminal["id"]).token_digest == digest(terminal["token"])
    assert terminal["reader_port"] == 30001
    assert {k.serial for k in Key.objects.all()} == {e["key_serial"] for e in third["employees"]}


def test_command_refuses_to_mix_with_existing_data_unless_replace(tmp_path) -> None:
    out = tmp_path / "creds.json"
    call_command("demo_data", "--users", "2", "--out", str(out))
    assert out.stat().st_mode & 0o777 == 0o600
    with pytest.raises(CommandError, match="pass --replace"):
        call_command("demo_data", "--users", "2", "--out", str(out))
    call_command("demo_data", "--users", "3", "--out", str(out), "--replace")
    assert get_user_model().objects.count() == 3
    with pytest.raises(CommandError, match="--users must be >= 0"):
        call_command("demo_data", "--users", "-1", "--replace")
    with pytest.raises(CommandError, match="within 1-65535"):
        call_command("demo_data", "--terminals", "10", "--reader-base-port", "65530", "--replace")
