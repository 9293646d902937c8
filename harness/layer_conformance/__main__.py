"""``python -m harness.layer_conformance``: the documented name of ``python -m harness.conformance.layers``."""

from __future__ import annotations

from harness.conformance.layers.__main__ import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
