"""Deterministic demo data: users with ready sessions, rooms, employees with EKS keys, terminals and service tokens.

Everything secret here (passwords, session keys, tokens) is derived from the seed so that a run can be reproduced.
That is right for a load-test stack and wrong anywhere else: never load demo data into a deployment others can reach.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from reference_app.accounts.models import ServiceToken
from reference_app.chat.models import Room
from reference_app.notifications.models import Notification
from reference_app.timeclock.models import Employee, Key, Punch, Terminal
from reference_app.tokens import digest

__all__ = ["FORMAT", "DemoSizes", "generate"]

FORMAT = "channels-harness-demo/1"
ROLES = ("staff", "supervisors", "operators")
# Full-strength hashing of thousands of demo passwords would take minutes; Django upgrades a hash on first login.
DEMO_HASH_ITERATIONS = 1000


@dataclass(frozen=True)
class DemoSizes:
    users: int = 20
    rooms: int = 5
    employees: int = 20
    terminals: int = 4
    service_tokens: int = 1
    reader_host: str = "127.0.0.1"
    reader_base_port: int = 2444

    def check(self) -> None:
        for name in ("users", "rooms", "employees", "terminals", "service_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
        if self.service_tokens < 1:
            raise ValueError("--service-tokens must be >= 1: the publish APIs need one")
        last_port = self.reader_base_port + max(self.terminals - 1, 0)
        if not 1 <= self.reader_base_port or last_port > 65535:
            raise ValueError(
                f"--reader-base-port {self.reader_base_port} with {self.terminals} terminals needs ports up to "
                f"{last_port}; expected them all within 1-65535"
            )


def _secret(rng: random.Random, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def wipe() -> None:
    """Delete everything demo data creates (and what depends on it), for ``--replace``."""
    Punch.objects.all().delete()
    Notification.objects.all().delete()
    Key.objects.all().delete()
    Employee.objects.all().delete()
    Terminal.objects.all().delete()
    Room.objects.all().delete()
    ServiceToken.objects.all().delete()
    Session.objects.all().delete()
    get_user_model().objects.all().delete()
    Group.objects.filter(name__in=ROLES).delete()


def existing_counts() -> dict[str, int]:
    return {
        "users": get_user_model().objects.count(),
        "rooms": Room.objects.count(),
        "terminals": Terminal.objects.count(),
        "employees": Employee.objects.count(),
    }


@transaction.atomic
def generate(seed: int, sizes: DemoSizes) -> dict[str, Any]:
    sizes.check()
    rng = random.Random(seed)
    hasher = PBKDF2PasswordHasher()
    user_model = get_user_model()
    roles = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}

    passwords = [_secret(rng, 16) for _ in range(sizes.users)]
    users = user_model.objects.bulk_create(
        [
            user_model(
                username=f"user{i:05d}",
                email=f"user{i:05d}@example.invalid",
                password=hasher.encode(passwords[i], _secret(rng, 22), iterations=DEMO_HASH_ITERATIONS),
            )
            for i in range(sizes.users)
        ]
    )
    user_roles = {user.pk: ROLES[i % len(ROLES)] for i, user in enumerate(users)}
    membership = user_model.groups.through
    membership.objects.bulk_create(
        [membership(user_id=uid, group_id=roles[role].pk) for uid, role in user_roles.items()]
    )

    expire = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    store = SessionStore()
    sessions = []
    session_keys = []
    for user in users:
        key = _secret(rng, 32, string.ascii_lowercase + string.digits)
        session_keys.append(key)
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
    Session.objects.bulk_create(sessions)

    rooms = Room.objects.bulk_create([Room(slug=f"room-{i:04d}", title=f"Room {i}") for i in range(sizes.rooms)])

    employees = Employee.objects.bulk_create(
        [
            Employee(
                number=f"E{i:06d}",
                name=f"Employee {i}",
                user_id=users[i].pk if i < len(users) else None,
            )
            for i in range(sizes.employees)
        ]
    )
    serials: set[str] = set()
    while len(serials) < sizes.employees:
        serials.add(rng.getrandbits(64).to_bytes(8, "big").hex().upper())
    ordered_serials = sorted(serials, key=lambda s: rng.random())
    Key.objects.bulk_create(
        [Key(serial=serial, employee=emp) for serial, emp in zip(ordered_serials, employees, strict=True)]
    )

    terminal_tokens = [_secret(rng, 32) for _ in range(sizes.terminals)]
    terminals = Terminal.objects.bulk_create(
        [
            Terminal(
                name=f"terminal-{i:04d}",
                reader_host=sizes.reader_host,
                reader_port=sizes.reader_base_port + i,
                token_digest=digest(token),
            )
            for i, token in enumerate(terminal_tokens)
        ]
    )
    service_tokens = [_secret(rng, 40) for _ in range(sizes.service_tokens)]
    ServiceToken.objects.bulk_create(
        [ServiceToken(name=f"demo-service-{i}", token_digest=digest(t)) for i, t in enumerate(service_tokens)]
    )

    return {
        "format": FORMAT,
        "seed": seed,
        "created_at": timezone.now().isoformat(),
        "session_cookie_name": settings.SESSION_COOKIE_NAME,
        "users": [
            {
                "id": user.pk,
                "username": user.username,
                "password": passwords[i],
                "session": session_keys[i],
                "role": user_roles[user.pk],
            }
            for i, user in enumerate(users)
        ],
        "rooms": [{"slug": room.slug, "title": room.title} for room in rooms],
        "employees": [
            {
                "id": emp.pk,
                "number": emp.number,
                "name": emp.name,
                "key_serial": serial,
                "username": users[i].username if i < len(users) else None,
            }
            for i, (emp, serial) in enumerate(zip(employees, ordered_serials, strict=True))
        ],
        "terminals": [
            {
                "id": term.pk,
                "name": term.name,
                "token": terminal_tokens[i],
                "reader_host": term.reader_host,
                "reader_port": term.reader_port,
            }
            for i, term in enumerate(terminals)
        ],
        "service_tokens": [{"name": f"demo-service-{i}", "token": t} for i, t in enumerate(service_tokens)],
    }
