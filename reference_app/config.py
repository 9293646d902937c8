"""Settings read from the environment, validated in one place.

Every variable the reference app understands is parsed here so that a bad value fails at start-up with a message
naming the variable and the expected form, instead of surfacing later as an obscure error inside a consumer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "CHANNEL_LAYER_BACKENDS",
    "ConfigError",
    "channel_layers_setting",
    "env_bool",
    "env_int",
    "env_list",
    "redis_host_entries",
    "redis_hosts",
]

#: The named channel-layer implementations (the value of ``CHANNEL_LAYER``) and their backend paths.
CHANNEL_LAYER_BACKENDS: dict[str, str] = {
    "inmemory": "channels.layers.InMemoryChannelLayer",
    "redis": "channels_redis.core.RedisChannelLayer",
    "redis-pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


class ConfigError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class _Env:
    environ: Mapping[str, str]

    def get(self, name: str, default: str) -> str:
        value = self.environ.get(name)
        return default if value is None or value.strip() == "" else value.strip()


def env_int(name: str, default: int, *, minimum: int = 0, environ: Mapping[str, str] | None = None) -> int:
    raw = _Env(os.environ if environ is None else environ).get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number (default {default})") from None
    if value < minimum:
        raise ConfigError(f"{name}={value}: expected a whole number >= {minimum}")
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    raw = _Env(os.environ if environ is None else environ).get(name, "1" if default else "0").lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_list(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    raw = _Env(os.environ if environ is None else environ).get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def redis_hosts(raw: str) -> list[str]:
    """Split ``REDIS_URL`` (comma-separated for sharding) and check each entry is a redis URL."""
    hosts = [item.strip() for item in raw.split(",") if item.strip()]
    if not hosts:
        raise ConfigError("REDIS_URL is empty: expected redis://host:port[/db], comma-separated for sharded hosts")
    for host in hosts:
        parts = urlsplit(host)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ConfigError(
                f"REDIS_URL entry {host!r}: expected a redis://, rediss:// or unix:// URL "
                "(comma-separated for sharded hosts)"
            )
        if parts.scheme != "unix" and not parts.hostname:
            raise ConfigError(f"REDIS_URL entry {host!r}: the URL names no host")
    return hosts


#: redis-py 8 reads with a 5 s socket timeout by default, the same as channels-redis' 5 s BZPOPMIN: an idle receive
#: then fails with "Timeout reading from ..." and kills the consumer or worker. A longer read timeout avoids the race.
REDIS_SOCKET_TIMEOUT_S = 30
#: redis-py 8 caps a pool at 100 connections and then raises MaxConnectionsError instead of waiting: with more than
#: 100 layer commands in flight in one process (a storm of connects, each a group_add and a group_send) sockets were
#: refused with HTTP 500 at 250 connects/s. One pool per process per host; Redis' own limit is 10,000 clients.
REDIS_MAX_CONNECTIONS = 1000


def redis_host_entries(hosts: list[str]) -> list[dict[str, Any]]:
    """channels-redis ``hosts`` entries with connection options set (see REDIS_SOCKET_TIMEOUT_S and
    REDIS_MAX_CONNECTIONS)."""
    return [
        {
            "address": host,
            "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": 5,
            "max_connections": REDIS_MAX_CONNECTIONS,
        }
        for host in hosts
    ]


def _channel_layers_json(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"CHANNEL_LAYERS_JSON is not valid JSON: {exc}") from None
    default = value.get("default") if isinstance(value, dict) else None
    if not isinstance(default, dict) or not isinstance(default.get("BACKEND"), str):
        raise ConfigError(
            'CHANNEL_LAYERS_JSON: expected {"default": {"BACKEND": "dotted.path", "CONFIG": {...}}}, '
            f"got {raw[:200]!r}"
        )
    return dict(value)


def channel_layers_setting(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build Django's ``CHANNEL_LAYERS`` from ``CHANNEL_LAYER``, ``REDIS_URL`` and the capacity variables.

    ``CHANNEL_LAYERS_JSON``, when set, is taken whole instead: the harness uses it so that a layer it knows by name
    (its own registry) needs no matching entry here.
    """
    env = _Env(os.environ if environ is None else environ)
    explicit = env.get("CHANNEL_LAYERS_JSON", "")
    if explicit:
        return _channel_layers_json(explicit)
    name = env.get("CHANNEL_LAYER", "inmemory")
    if name not in CHANNEL_LAYER_BACKENDS:
        raise ConfigError(f"CHANNEL_LAYER={name!r}: expected one of {', '.join(sorted(CHANNEL_LAYER_BACKENDS))}")
    capacity = env_int("CHANNEL_CAPACITY", 1000, minimum=1, environ=environ)
    expiry = env_int("CHANNEL_EXPIRY", 60, minimum=1, environ=environ)
    # Sockets re-join their groups every GROUP_REFRESH_S, so a member can be forgotten after a few periods: the
    # channel of a killed process then leaves its groups in minutes, not channels-redis' default day.
    group_expiry = env_int("CHANNEL_GROUP_EXPIRY", 300, minimum=1, environ=environ)
    config: dict[str, Any]
    if name == "inmemory":
        config = {"capacity": capacity, "expiry": expiry}
    else:
        hosts = redis_host_entries(redis_hosts(env.get("REDIS_URL", "")))
        if name == "redis":
            config = {"hosts": hosts, "capacity": capacity, "expiry": expiry, "group_expiry": group_expiry}
        else:
            # The pub/sub layer has no per-channel queue, hence no capacity or expiry to set.
            config = {"hosts": hosts}
    prefix = env.get("CHANNEL_PREFIX", "asgi")
    if name != "inmemory":
        config["prefix"] = prefix
    return {"default": {"BACKEND": CHANNEL_LAYER_BACKENDS[name], "CONFIG": config}}
