"""Channel-layer back-pressure as the server logs show it: group_send drops at capacity and ChannelFull errors.

channels-redis logs ``N of M channels over capacity in group G`` (INFO) each time group_send skips members whose
channel is full. The in-memory layer swallows the same condition without a trace, and the pub/sub layer has no
capacity at all, so for those the counts are reported as not observable rather than as zero drops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["OBSERVABLE_BACKENDS", "layer_pressure"]

#: Layer backends whose drops reach the log.
OBSERVABLE_BACKENDS = frozenset({"channels_redis.core.RedisChannelLayer"})

_OVER_CAPACITY = re.compile(r"(\d+) of \d+ channels over capacity in group")
_CHANNEL_FULL = re.compile(r"\bChannelFull\b")


def layer_pressure(log_paths: Iterable[Path], backend: str) -> dict[str, Any]:
    dropped = 0
    full = 0
    names = []
    for path in log_paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        names.append(path.name)
        dropped += sum(int(match.group(1)) for match in _OVER_CAPACITY.finditer(text))
        full += len(_CHANNEL_FULL.findall(text))
    return {
        "observable": backend in OBSERVABLE_BACKENDS,
        "group_send_over_capacity": dropped,
        "channel_full": full,
        "source": f"server logs: {', '.join(sorted(names)) or 'none found'}",
    }
