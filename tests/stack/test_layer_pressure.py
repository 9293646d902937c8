from __future__ import annotations

from pathlib import Path

from harness.measure.layer_pressure import layer_pressure


def test_counts_drops_and_channel_full_across_logs(tmp_path: Path) -> None:
    (tmp_path / "daphne-0.log").write_text(
        "INFO channels_redis.core 3 of 10 channels over capacity in group chat.room.a\n"
        "INFO channels_redis.core 2 of 10 channels over capacity in group chat.room.b\n"
    )
    (tmp_path / "daphne-1.log").write_text("Traceback ...\nchannels.exceptions.ChannelFull\n")
    counts = layer_pressure(sorted(tmp_path.glob("*.log")), "channels_redis.core.RedisChannelLayer")
    assert (counts["observable"], counts["group_send_over_capacity"], counts["channel_full"]) == (True, 5, 1)
    assert "daphne-0.log" in counts["source"]


def test_silent_layers_are_not_observable(tmp_path: Path) -> None:
    counts = layer_pressure([tmp_path / "missing.log"], "channels.layers.InMemoryChannelLayer")
    assert counts == {
        "observable": False,
        "group_send_over_capacity": 0,
        "channel_full": 0,
        "source": "server logs: none found",
    }
