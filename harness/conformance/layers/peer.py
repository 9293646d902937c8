"""Second process for cross-process checks: rebuilds the layer from BACKEND and CONFIG and performs sends.

Usage: ``python -m harness.conformance.layers.peer BACKEND CONFIG_JSON OVERRIDES_JSON OPS_JSON``. Each op is
``{"op": "send"|"group_send", "to": name, "message": {...}}``; the process prints ``done N`` after N ops.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from harness.conformance.layers.target import ensure_django_settings, load_backend

__all__ = ["main"]


async def _perform(backend: str, config: dict[str, Any], ops: list[dict[str, Any]]) -> int:
    layer = load_backend(backend)(**config)
    done = 0
    for op in ops:
        if op["op"] == "send":
            await layer.send(op["to"], op["message"])
        elif op["op"] == "group_send":
            await layer.group_send(op["to"], op["message"])
        else:
            raise ValueError(f"unknown op {op['op']!r}")
        done += 1
    # Closing (not flushing) so the messages stay for the parent to read.
    close_pools = getattr(layer, "close_pools", None)
    if close_pools is not None:
        await close_pools()
    return done


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    backend, config_json, overrides_json, ops_json = args
    ensure_django_settings()
    config = {**json.loads(config_json), **json.loads(overrides_json)}
    done = asyncio.run(_perform(backend, config, json.loads(ops_json)))
    print(f"done {done}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
