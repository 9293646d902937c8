from __future__ import annotations

import json

import pytest

from reference_app.config import ConfigError, channel_layers_setting, env_bool, env_int


def test_default_is_the_in_memory_layer() -> None:
    assert channel_layers_setting({})["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_redis_urls_become_sharded_hosts_with_a_read_timeout_above_bzpopmin() -> None:
    layers = channel_layers_setting({"CHANNEL_LAYER": "redis", "REDIS_URL": "redis://a:1/0, redis://b:2/0"})
    config = layers["default"]["CONFIG"]
    assert [h["address"] for h in config["hosts"]] == ["redis://a:1/0", "redis://b:2/0"]
    assert all(h["socket_timeout"] > 5 for h in config["hosts"])
    pubsub = channel_layers_setting({"CHANNEL_LAYER": "redis-pubsub", "REDIS_URL": "redis://a:1"})
    assert pubsub["default"]["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert "capacity" not in pubsub["default"]["CONFIG"]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CHANNEL_LAYER": "kafka"}, "CHANNEL_LAYER='kafka': expected one of"),
        ({"CHANNEL_LAYER": "redis"}, "REDIS_URL is empty"),
        ({"CHANNEL_LAYER": "redis", "REDIS_URL": "http://x"}, "expected a redis://"),
        ({"CHANNEL_LAYER": "redis", "REDIS_URL": "redis://"}, "names no host"),
        ({"CHANNEL_CAPACITY": "lots"}, "CHANNEL_CAPACITY='lots': expected a whole number"),
        ({"CHANNEL_CAPACITY": "0"}, "CHANNEL_CAPACITY=0: expected a whole number >= 1"),
        ({"CHANNEL_LAYERS_JSON": "{"}, "CHANNEL_LAYERS_JSON is not valid JSON"),
        ({"CHANNEL_LAYERS_JSON": '{"default": {}}'}, 'expected {"default": {"BACKEND"'),
    ],
)
def test_bad_values_name_the_variable_and_the_expected_form(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        channel_layers_setting(environ)
    assert message in str(error.value)


def test_explicit_json_is_taken_whole() -> None:
    value = {"default": {"BACKEND": "x.Layer", "CONFIG": {"k": 1}}}
    assert channel_layers_setting({"CHANNEL_LAYERS_JSON": json.dumps(value), "CHANNEL_LAYER": "bogus"}) == value


def test_scalars() -> None:
    assert env_int("N", 3, environ={}) == 3
    assert env_bool("B", False, environ={"B": "yes"}) is True
    with pytest.raises(ConfigError, match="B='maybe'"):
        env_bool("B", False, environ={"B": "maybe"})


@pytest.mark.parametrize("source", ["reference_app", "harness_stack"])
def test_a_storm_of_layer_commands_in_one_process_is_not_refused_by_the_pool(redis_server, source: str) -> None:
    # redis-py 8 refuses a 101st concurrent connection of a pool (MaxConnectionsError); a connect storm on one server
    # process issues that many group_adds at once, and the server answered those sockets with HTTP 500.
    import asyncio

    from channels_redis.core import RedisChannelLayer

    from harness.stack.layers import layer_spec

    url = redis_server.url
    if source == "reference_app":
        config = channel_layers_setting({"CHANNEL_LAYER": "redis", "REDIS_URL": url})["default"]["CONFIG"]
    else:
        config = layer_spec("redis").config(url)

    async def storm() -> None:
        layer = RedisChannelLayer(**config)
        await asyncio.gather(*(layer.group_add(f"room{i % 7}", f"specific.c{i}") for i in range(400)))
        await layer.flush()

    asyncio.run(storm())
