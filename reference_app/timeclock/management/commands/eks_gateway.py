"""``python -m reference_app eks_gateway``: every terminal's EKS reader, key inserts turned into punches."""

from __future__ import annotations

import asyncio
import signal
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from eks_emulator.fleet import Shard
from reference_app.gateway.backoff import BackoffPolicy
from reference_app.gateway.client import ClientConfig
from reference_app.gateway.journal import JournalError
from reference_app.gateway.service import GatewayConfig, GatewayService, load_targets


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None


class Command(BaseCommand):
    help = (
        "Run the EKS reader gateway: one client per Terminal reader (reader_host:reader_port), "
        "heartbeat polling, reconnects with full-jitter backoff; each key insert becomes one punch event "
        "on TIMECLOCK_CHANNEL. "
        "See docs/eks.md."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        defaults = ClientConfig()
        backoff = BackoffPolicy()
        parser.add_argument(
            "--shard",
            type=_shard,
            default=Shard(),
            help="Serve terminals i, i+n, ... in id order (i/n, default 0/1).",
        )
        parser.add_argument(
            "--status-port",
            type=int,
            default=None,
            help="Serve GET /status and GET /readers (JSON) here; 0 = any free port (default: no endpoint).",
        )
        parser.add_argument("--status-host", default="127.0.0.1", help="Address of the status endpoint.")
        parser.add_argument(
            "--log-interval-s",
            type=_seconds,
            default=10.0,
            help="Log an 'eks-gateway-status {json}' line this often; 0 = never (default 10).",
        )
        parser.add_argument(
            "--heartbeat-s",
            type=_seconds,
            default=defaults.heartbeat_s,
            help=f"Send an Ek status query this often (default {defaults.heartbeat_s}).",
        )
        parser.add_argument(
            "--heartbeat-timeout-s",
            type=_seconds,
            default=defaults.heartbeat_timeout_s,
            help=f"A query unanswered this long is a miss (default {defaults.heartbeat_timeout_s}).",
        )
        parser.add_argument(
            "--heartbeat-misses",
            type=int,
            default=defaults.heartbeat_misses,
            help=f"Misses in a row that end the connection (default {defaults.heartbeat_misses}).",
        )
        parser.add_argument(
            "--connect-timeout-s",
            type=_seconds,
            default=defaults.connect_timeout_s,
            help=f"Give up a TCP connect after this long (default {defaults.connect_timeout_s}).",
        )
        parser.add_argument(
            "--read-timeout-s",
            type=_seconds,
            default=defaults.read_timeout_s,
            help=f"Reconnect if a serial read is unanswered this long (default {defaults.read_timeout_s}).",
        )
        parser.add_argument(
            "--read-attempts",
            type=int,
            default=defaults.read_attempts,
            help=f"Tries of a serial read that gets RF 4x/03 (default {defaults.read_attempts}).",
        )
        parser.add_argument(
            "--debounce-s",
            type=_seconds,
            default=defaults.debounce_s,
            help=f"Same key back this soon after a remove: same insert (default {defaults.debounce_s}).",
        )
        parser.add_argument(
            "--backoff-base-s",
            type=_seconds,
            default=backoff.base_s,
            help=f"Ceiling of the first reconnect delay, drawn below it (default {backoff.base_s}).",
        )
        parser.add_argument(
            "--backoff-max-s",
            type=_seconds,
            default=backoff.max_s,
            help=f"Cap of the reconnect delay ceiling, which doubles per failure (default {backoff.max_s}).",
        )
        parser.add_argument(
            "--max-connecting",
            type=int,
            default=100,
            help="Connection attempts in flight at once (default 100).",
        )
        parser.add_argument("--seed", type=int, default=None, help="Seed the backoff jitter (default: random).")
        gateway = GatewayConfig(channel="-")
        parser.add_argument(
            "--journal",
            type=Path,
            default=None,
            help="The punch journal, which keeps unacknowledged punches and each reader's last key across a restart "
            "(default: eks-gateway-<i>-of-<n>.journal in the data directory, REFERENCE_APP_DATA_DIR).",
        )
        parser.add_argument(
            "--no-journal-fsync",
            action="store_true",
            help="Do not fsync each journal write: a killed gateway still keeps it, a power loss may not.",
        )
        parser.add_argument(
            "--ack-timeout-s",
            type=_seconds,
            default=gateway.ack_timeout_s,
            help="Send a punch again when the worker has not acknowledged it this long after sending "
            f"(default {gateway.ack_timeout_s}); the wait doubles per attempt up to --ack-max-s.",
        )
        parser.add_argument(
            "--ack-max-s",
            type=_seconds,
            default=gateway.ack_max_s,
            help=f"The longest wait for an acknowledgement before sending again (default {gateway.ack_max_s}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        shard: Shard = options["shard"]
        try:
            config = GatewayConfig(
                channel=settings.TIMECLOCK_CHANNEL,
                client=ClientConfig(
                    connect_timeout_s=options["connect_timeout_s"],
                    heartbeat_s=options["heartbeat_s"],
                    heartbeat_timeout_s=options["heartbeat_timeout_s"],
                    heartbeat_misses=options["heartbeat_misses"],
                    read_timeout_s=options["read_timeout_s"],
                    read_attempts=options["read_attempts"],
                    debounce_s=options["debounce_s"],
                ),
                backoff=BackoffPolicy(options["backoff_base_s"], options["backoff_max_s"]),
                shard=options["shard"],
                status_host=options["status_host"],
                status_port=options["status_port"],
                log_interval_s=options["log_interval_s"],
                max_connecting=options["max_connecting"],
                seed=options["seed"],
                journal=options["journal"]
                or Path(settings.DATA_DIR) / f"eks-gateway-{shard.index}-of-{shard.count}.journal",
                journal_fsync=not options["no_journal_fsync"],
                ack_timeout_s=options["ack_timeout_s"],
                ack_max_s=options["ack_max_s"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        targets = load_targets(config.shard)
        if not targets:
            raise CommandError(
                f"shard {config.shard} has no terminals to serve; create terminals "
                "(e.g. manage.py demo_data) or use fewer shards"
            )
        try:
            asyncio.run(self._serve(GatewayService(targets, config, get_channel_layer())))
        except (OSError, JournalError) as exc:
            raise CommandError(str(exc)) from None

    async def _serve(self, service: GatewayService) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.start()
        try:
            await stop.wait()
        finally:
            await service.stop()
