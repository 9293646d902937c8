"""The old name of ``harness.conformance.layers``, kept because the docs gave it to users.

``pytest -p harness.layer_conformance.plugin`` and ``python -m harness.layer_conformance`` keep working; new code
imports ``harness.conformance.layers``.
"""

from __future__ import annotations

__all__: list[str] = []
