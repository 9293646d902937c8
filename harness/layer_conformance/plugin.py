"""``pytest -p harness.layer_conformance.plugin``: the documented name of ``harness.conformance.layers.plugin``."""

from __future__ import annotations

from harness.conformance.layers.plugin import (
    LayerCheckItem,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
)

__all__ = ["LayerCheckItem", "pytest_addoption", "pytest_collection_modifyitems", "pytest_configure"]
