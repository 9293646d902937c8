"""Known departures of released layers from the spec: expected FAILED verdicts, each tied to an upstream link.

Keyed by BACKEND path (exact: a subclass gets none). A deviation only relabels a FAILED verdict: the check still runs
and the original detail is kept, so a fixed upstream shows up as OK instead.
"""

from __future__ import annotations

from harness.conformance.model import KnownDeviation

__all__ = ["KNOWN_DEVIATIONS"]

INMEMORY = "channels.layers.InMemoryChannelLayer"
REDIS = "channels_redis.core.RedisChannelLayer"
PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"

_NAME_LENGTH = KnownDeviation(
    frozenset({"C2.2", "C2.3"}),
    "https://github.com/django/channels/issues/1229",
    "BaseChannelLayer.match_type_and_length requires len(name) < 100 (MAX_NAME_LENGTH); the spec asks for at least "
    "100. channels#1229 (closed by #1232) only improved the error message.",
)
_QUESTION_MARK = KnownDeviation(
    frozenset({"C2.5"}),
    "https://github.com/django/channels/blob/4.3.2/channels/layers.py",
    "BaseChannelLayer.channel_name_regex has no '?' alternative, so single-reader names are refused with TypeError. "
    "No upstream issue found; the link is the source.",
)
_NO_ATTRIBUTES = KnownDeviation(
    frozenset({"C1.5", "C1.6"}),
    "https://github.com/django/channels_redis/issues/5",
    "Layers import ChannelFull/MessageTooLarge from channels.exceptions but do not expose them as attributes "
    "(channels_redis#5 reported the missing ChannelFull attribute in 2016).",
)
_PUBSUB_DESIGN = "https://github.com/django/channels_redis/pull/247"


def _pubsub(check_id: str, summary: str, link: str = _PUBSUB_DESIGN) -> KnownDeviation:
    return KnownDeviation(frozenset({check_id}), link, summary)


#: Per BACKEND path: the deviations of that exact class.
KNOWN_DEVIATIONS: dict[str, tuple[KnownDeviation, ...]] = {
    INMEMORY: (
        _NAME_LENGTH,
        _QUESTION_MARK,
        _NO_ATTRIBUTES,
        KnownDeviation(
            frozenset({"C5.3"}),
            "https://github.com/django/channels_redis/issues/73",
            "InMemoryChannelLayer passes channel_capacity to BaseChannelLayer uncompiled, so get_capacity() fails on "
            "the first send (ValueError or AttributeError, depending on the pattern's length). "
            "channels_redis#73 is the same bug, fixed there by compile_capacities().",
        ),
        KnownDeviation(
            frozenset({"C5.4"}),
            "https://github.com/django/channels/blob/4.3.2/channels/layers.py",
            "InMemoryChannelLayer keeps one queue per full channel name, so capacity is per virtual channel rather "
            "than shared on the part up to '!'. No upstream issue found; the link is the source.",
        ),
    ),
    REDIS: (
        _NAME_LENGTH,
        _QUESTION_MARK,
        _NO_ATTRIBUTES,
        KnownDeviation(
            frozenset({"C4.9"}),
            "https://github.com/django/channels_redis/issues/366",
            "Intermittent: a receive() cancelled while BZPOPMIN is in flight can lose the message it pops (seen here "
            "with redis-py 8.1; channels_redis#366 describes the same loss with redis-py 4.5.4).",
        ),
    ),
    PUBSUB: (
        _NO_ATTRIBUTES,
        _pubsub(
            "C1.8", "The pub/sub layer has no group_expiry (declared out of scope in the pull request that added it)."
        ),
        _pubsub("C1.9", "No group_expiry attribute, so no 86400 default."),
        _pubsub("C6.4", "Group membership lasts as long as the subscription; no expiry."),
        _pubsub("C6.5", "No group_expiry, so there is no clock for group_add to restart."),
        _pubsub(
            "C4.1",
            "Redis PUBLISH reaches only current subscribers: a message sent before any receive() is gone, not queued.",
        ),
        _pubsub(
            "C4.6",
            "Every instance subscribed to a channel gets its own copy of each PUBLISH, so two readers in two "
            "processes both receive every message. The layer assumes each channel has one reading process.",
        ),
        _pubsub(
            "C4.9",
            "A cancelled receive() unsubscribes the channel and drops its local queue (on purpose, see the comment in "
            "receive()), so messages sent before the next receive() are lost.",
            "https://github.com/django/channels_redis/blob/main/channels_redis/pubsub.py",
        ),
        _pubsub(
            "C6.8",
            "flush() only resets the calling instance's subscriptions and local queues; other clients keep theirs.",
        ),
        _pubsub(
            "C7.7",
            "group_add raises RuntimeError for a channel that is not subscribed in this process (a documented "
            "limitation of the pull request).",
        ),
    ),
}
