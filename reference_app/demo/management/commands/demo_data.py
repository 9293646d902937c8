from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError

from reference_app.demo.generate import DemoSizes, existing_counts, generate, wipe


class Command(BaseCommand):
    help = (
        "Create demo users (with ready sessions), rooms, employees with EKS keys, terminals and service tokens, "
        "deterministically from --seed, and write the credentials file load clients read."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=1, help="Seed every generated name, key and secret derives from."
        )
        parser.add_argument("--users", type=int, default=20, help="Number of users (each gets a session).")
        parser.add_argument("--rooms", type=int, default=5, help="Number of chat rooms.")
        parser.add_argument("--employees", type=int, default=20, help="Number of employees, one EKS key each.")
        parser.add_argument("--terminals", type=int, default=4, help="Number of kiosk terminals (one reader each).")
        parser.add_argument("--service-tokens", type=int, default=1, help="Number of service tokens for the APIs.")
        parser.add_argument("--reader-host", default="127.0.0.1", help="Host of the terminals' EKS readers.")
        parser.add_argument(
            "--reader-base-port",
            type=int,
            default=2444,
            help="Port of the first terminal's reader; terminal i uses +i.",
        )
        parser.add_argument(
            "--out",
            default="-",
            help="Where to write the credentials file (JSON); '-' prints it to standard output.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete existing users, rooms, timeclock and token data first.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sizes = DemoSizes(
            users=options["users"],
            rooms=options["rooms"],
            employees=options["employees"],
            terminals=options["terminals"],
            service_tokens=options["service_tokens"],
            reader_host=options["reader_host"],
            reader_base_port=options["reader_base_port"],
        )
        try:
            sizes.check()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        present = {name: count for name, count in existing_counts().items() if count}
        if present and not options["replace"]:
            shown = ", ".join(f"{count} {name}" for name, count in present.items())
            raise CommandError(f"the database already holds {shown}; pass --replace to delete them first")
        if options["replace"]:
            wipe()
        data = generate(options["seed"], sizes)
        encoded = orjson.dumps(data, option=orjson.OPT_INDENT_2)
        if options["out"] == "-":
            sys.stdout.buffer.write(encoded + b"\n")
        else:
            path = Path(options["out"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encoded + b"\n")
            path.chmod(0o600)
        self.stderr.write(
            f"demo data (seed {options['seed']}): {sizes.users} users, {sizes.rooms} rooms, "
            f"{sizes.employees} employees, "
            f"{sizes.terminals} terminals, {sizes.service_tokens} service token(s); credentials: {options['out']}"
        )
