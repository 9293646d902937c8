"""CLI: ``python -m harness.conformance.layers --backend dotted.Path --config JSON [--redis auto]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from harness.conformance.layers.runner import format_table, run_layer_checks, unexpected_failures

__all__ = ["main"]


def _with_redis(config: dict[str, Any], url: str) -> dict[str, Any]:
    # Same host options as a stack's layer (redis-py 8's read timeout and pool cap; the why is there).
    from harness.stack.layers import redis_host

    return {**config, "hosts": [redis_host(url)]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.conformance.layers", description=__doc__)
    parser.add_argument("--backend", required=True, help="dotted path of the channel layer class")
    parser.add_argument("--config", default="{}", help="the layer's CONFIG as JSON")
    parser.add_argument("--redis", choices=["auto"], help="start a private redis-server and put it in CONFIG hosts")
    parser.add_argument("--slow", action="store_true", help="include slow checks (delivery ratio over 10,000)")
    parser.add_argument("--only", help="comma-separated check ids")
    parser.add_argument("--jobs", type=int, default=1, help="checks run at the same time (default 1)")
    parser.add_argument("--json", dest="json_path", help="also write the results to this file")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    if not isinstance(config, dict):
        parser.error("--config must be a JSON object")
    only = [c.strip() for c in args.only.split(",")] if args.only else None

    with contextlib.ExitStack() as stack:
        if args.redis == "auto":
            from harness.stack.redis import RedisServer

            server = stack.enter_context(RedisServer())
            config = _with_redis(config, server.url)
        results = run_layer_checks(args.backend, config, include_slow=args.slow, only=only, jobs=args.jobs)

    print(f"backend: {args.backend}")
    print(format_table(results))
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as fh:
            json.dump([r.as_dict() for r in results], fh, indent=2)
    failures = unexpected_failures(results)
    if failures:
        print(f"{len(failures)} FAILED: {', '.join(r.id for r in failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
