"""Named channel-layer implementations a stack can run with. Adding one (e.g. channels-postgres) is one entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LAYERS", "LayerSpec", "layer_spec"]


@dataclass(frozen=True)
class LayerSpec:
    name: str
    backend: str
    #: Builds the layer's CONFIG from the stack's Redis URL (None when the layer needs none).
    config: Callable[[str | None], dict[str, Any]]
    needs_redis: bool
    #: False when the layer lives inside one process: fan-out then cannot cross server processes.
    shared_across_processes: bool
    description: str

    def channel_layers(self, redis_url: str | None) -> dict[str, Any]:
        return {"default": {"BACKEND": self.backend, "CONFIG": self.config(redis_url)}}


#: redis-py 8 reads with a 5 s socket timeout by default, equal to channels-redis' 5 s BZPOPMIN, so an idle receive
#: fails with "Timeout reading from ..." and kills the consumer; a longer read timeout removes the race.
REDIS_SOCKET_TIMEOUT_S = 30
#: redis-py 8 caps a pool at 100 connections and then raises MaxConnectionsError rather than wait: with more than
#: 100 layer commands in flight in one server process (a storm of connects, each a group_add and a group_send),
#: sockets were refused with HTTP 500 at 250 connects/s. Redis' own limit is 10,000 clients.
REDIS_MAX_CONNECTIONS = 1000


#: channels-redis keeps a group member 86,400 s by default: the channel of a socket whose process was killed (and so
#: never left its groups) is sent every group message for a day, until it is over capacity. The reference app
#: re-joins its groups every 60 s (GROUP_REFRESH_S), so its stacks can forget a member after 5 minutes instead.
GROUP_EXPIRY_S = 300


def redis_host(url: str) -> dict[str, Any]:
    """One channels-redis ``hosts`` entry with the stack's connection options (the two constants above)."""
    return {
        "address": url,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": 5,
        "max_connections": REDIS_MAX_CONNECTIONS,
    }


def _redis_hosts(redis_url: str | None) -> list[dict[str, Any]]:
    if not redis_url:
        raise ValueError("this layer needs a Redis URL")
    return [redis_host(url.strip()) for url in redis_url.split(",") if url.strip()]


LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec(
            "inmemory",
            "channels.layers.InMemoryChannelLayer",
            lambda _url: {"capacity": 1000, "expiry": 60},
            needs_redis=False,
            shared_across_processes=False,
            description="channels' in-process layer: no Redis, one server process only",
        ),
        LayerSpec(
            "redis",
            "channels_redis.core.RedisChannelLayer",
            lambda url: {"hosts": _redis_hosts(url), "capacity": 1000, "expiry": 60, "group_expiry": GROUP_EXPIRY_S},
            needs_redis=True,
            shared_across_processes=True,
            description="channels-redis list-based layer (queues per channel, capacity and expiry)",
        ),
        LayerSpec(
            "redis-pubsub",
            "channels_redis.pubsub.RedisPubSubChannelLayer",
            lambda url: {"hosts": _redis_hosts(url)},
            needs_redis=True,
            shared_across_processes=True,
            description="channels-redis pub/sub layer (no queues: a message with no subscriber is gone)",
        ),
    )
}


def layer_settings(name: str) -> dict[str, Any]:
    """The settings of a layer that change how it behaves under faults (its backend, capacity and expiry, and the
    Redis connection options: socket and connect time-outs, the pool's cap), without the stack's own addresses."""
    spec = layer_spec(name)
    config = spec.config("redis://127.0.0.1:6379/0" if spec.needs_redis else None)
    hosts = config.pop("hosts", [])
    options = {k: v for k, v in hosts[0].items() if k != "address"} if hosts else {}
    return {"backend": spec.backend, **config, **({"host_options": options} if options else {})}


def layer_spec(name: str) -> LayerSpec:
    try:
        return LAYERS[name]
    except KeyError:
        raise ValueError(f"unknown layer {name!r}; known: {', '.join(LAYERS)}") from None
