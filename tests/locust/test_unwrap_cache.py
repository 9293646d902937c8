"""One payload delivered to many members of a room is decoded once per user class, never across classes."""

from __future__ import annotations

import json

from tests.wsclient.conftest import run_gevent_script

SCRIPT = """
import locust  # Locust patches the standard library with gevent on import

import json
from types import SimpleNamespace

import orjson
from locust.env import Environment

from harness.measure.aggregation import Collector
from harness.load.envelope import Envelope, encode_envelope
from harness.load.users import ChatUser, EchoUser
from harness.load.wsclient import Message

environment = Environment(user_classes=[ChatUser, EchoUser])
collector = Collector(run_id="run1", process_id="local", role="local")


def user(cls, uid):
    u = cls(environment)
    u.collector, u.uid, u.cfg, u._window = collector, uid, SimpleNamespace(run_id="run1"), None
    return u


def chat_body(seq):
    return orjson.dumps({"type": "message", "text": "x", "client": Envelope("run1", "c0", seq, 1000, 2000).to_dict()})


chat = [user(ChatUser, f"c{i}") for i in range(3)]
echo = user(EchoUser, "e0")
# Each read is a bytes object of its own, equal to the others.
for member in chat:
    member.on_message(Message("text", bytes(chat_body(0)), 5_000))
# The same bytes mean something else to another user class: a chat message is no bare envelope.
echo.on_message(Message("text", bytes(chat_body(0)), 5_000))
bare = encode_envelope(Envelope("run1", "e0", 0, 1000, 2000))
chat[1].on_message(Message("text", bytes(bare), 5_000))
echo.on_message(Message("text", bytes(bare), 6_000))
for seq in range(1, 1000):
    chat[2].on_message(Message("text", chat_body(seq), 5_000))
ledger = collector.ledger
print(json.dumps({
    "streams": {f"{s}>{r}": ledger.counts(s, r).received for s, r in ledger.keys()},
    "foreign": dict(ledger.foreign),
    "cache_sizes": [len(ChatUser._unwrapped), len(EchoUser._unwrapped)],
    "shared": ChatUser._unwrapped is EchoUser._unwrapped,
    "fanout": collector.metrics.recorder("fanout").count,
}))
"""


def test_a_payload_is_decoded_per_user_class_and_the_cache_stays_bounded() -> None:
    out = json.loads(run_gevent_script(SCRIPT).strip().splitlines()[-1])
    assert out["streams"] == {"c0>c0": 1, "c0>c1": 1, "c0>c2": 1000, "e0>e0": 1}
    # The chat body is no envelope to EchoUser, whatever ChatUser made of the same bytes.
    assert out["foreign"] == {"missing_key": 1}
    assert out["fanout"] == 1 + 1000
    assert not out["shared"]
    assert all(0 < size <= 256 for size in out["cache_sizes"])
