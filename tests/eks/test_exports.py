from __future__ import annotations

import importlib
import pkgutil

import eks_emulator


def test_every_module_declares_all_and_exports_exist() -> None:
    for info in pkgutil.iter_modules(eks_emulator.__path__):
        module = importlib.import_module(f"eks_emulator.{info.name}")
        assert isinstance(module.__all__, list), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"{info.name}.{name}"
    for name in eks_emulator.__all__:
        assert hasattr(eks_emulator, name), name
