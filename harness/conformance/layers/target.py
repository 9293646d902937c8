"""The layer under test and the per-check context that builds fresh instances of it and cleans up after them."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import secrets
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CheckContext", "ConfigRejected", "LayerTarget", "ensure_django_settings", "load_backend"]

#: How long a pub/sub-style layer gets to subscribe after receive() starts, before a sender publishes.
SETTLE_S = 0.15


class ConfigRejected(Exception):
    """The layer's constructor refused a configuration a check needs (e.g. ``capacity=3``)."""


def ensure_django_settings() -> None:
    """channels reads django.conf.settings lazily; configure bare settings only when nobody else did."""
    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure()


def load_backend(backend: str) -> type[Any]:
    module_name, _, attr = backend.rpartition(".")
    if not module_name:
        raise ValueError(f"BACKEND must be a dotted path to a class, not {backend!r}")
    cls = getattr(importlib.import_module(module_name), attr)
    if not isinstance(cls, type):
        raise TypeError(f"{backend} is not a class")
    return cls


def _is_process_local(cls: type[Any]) -> bool:
    try:
        from channels.layers import InMemoryChannelLayer
    except ImportError:
        return False
    return issubclass(cls, InMemoryChannelLayer)


@dataclass
class LayerTarget:
    """A BACKEND path and CONFIG dict; every call of make() returns a new, independent layer instance."""

    backend: str
    config: dict[str, Any] = field(default_factory=dict)
    #: None: decided from the class (the in-memory layer and its subclasses keep state in one process).
    process_local: bool | None = None

    def __post_init__(self) -> None:
        self.cls = load_backend(self.backend)
        if self.process_local is None:
            self.process_local = _is_process_local(self.cls)
        # A unique key prefix keeps checks apart on a shared server, and keeps flush() away from the user's keys.
        self.accepts_prefix = "prefix" in inspect.signature(self.cls).parameters

    def make(self, **overrides: Any) -> Any:
        kwargs = {**self.config, **overrides}
        try:
            return self.cls(**kwargs)
        except TypeError as exc:
            raise ConfigRejected(f"{self.backend}({', '.join(sorted(kwargs))}) raised TypeError: {exc}") from exc

    def config_json(self) -> str | None:
        try:
            return json.dumps(self.config)
        except TypeError:
            return None


class CheckContext:
    """What one check sees: fresh layers, names no other check uses, and timing helpers."""

    def __init__(self, target: LayerTarget, check_id: str) -> None:
        self.target = target
        self.check_id = check_id
        self.token = secrets.token_hex(4)
        self.layers: list[Any] = []

    @property
    def process_local(self) -> bool:
        return bool(self.target.process_local)

    def layer(self, *, without: tuple[str, ...] = (), **overrides: Any) -> Any:
        """A new instance; ``without`` drops CONFIG keys so the constructor's defaults apply."""
        if self.target.accepts_prefix and "prefix" not in overrides:
            overrides["prefix"] = f"lc{self.token}:"
        if without:
            kept = {k: v for k, v in self.target.config.items() if k not in without}
            layer = LayerTarget(self.target.backend, kept, self.target.process_local).make(**overrides)
        else:
            layer = self.target.make(**overrides)
        self.layers.append(layer)
        return layer

    def name(self, label: str = "c") -> str:
        """A normal channel or group name, unique to this check run and well under 99 characters."""
        slug = self.check_id.replace(".", "-")
        return f"lc{self.token}.{slug}.{label}"

    async def recv(self, layer: Any, channel: str, timeout: float = 2.0) -> dict[str, Any] | None:
        """The next message, or None when nothing arrives within timeout."""
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout)
        except TimeoutError:
            return None
        if not isinstance(message, dict):
            raise AssertionError(f"receive() returned {type(message).__name__}, not a dict")
        return message

    async def listen(self, layer: Any, channel: str, timeout: float = 5.0) -> asyncio.Task[dict[str, Any] | None]:
        """Start a receive before sending: pub/sub layers drop messages for channels nobody subscribed to yet."""
        task = asyncio.create_task(self.recv(layer, channel, timeout))
        await asyncio.sleep(SETTLE_S)
        return task

    async def drain(self, layer: Any, channel: str, *, idle: float = 0.5, limit: int = 100_000) -> list[dict[str, Any]]:
        """Everything on channel until it stays quiet for ``idle`` seconds."""
        got: list[dict[str, Any]] = []
        while len(got) < limit:
            message = await self.recv(layer, channel, idle)
            if message is None:
                break
            got.append(message)
        return got

    async def in_other_loop(self, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run a coroutine in a new event loop on another thread: a second client of the same layer."""
        return await asyncio.to_thread(asyncio.run, factory())

    async def run_peer(self, ops: list[dict[str, Any]], timeout: float = 20.0) -> tuple[int, str]:
        """Run operations in a separate Python process against the same BACKEND and CONFIG."""
        config = self.target.config_json()
        if config is None:
            raise ConfigRejected("the CONFIG is not JSON-serialisable, so a second process cannot rebuild it")
        overrides = {"prefix": f"lc{self.token}:"} if self.target.accepts_prefix else {}
        env = dict(os.environ)
        # The child must import the same backend module the parent did, wherever it came from.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in sys.path if p]])
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "harness.conformance.layers.peer",
            self.target.backend,
            config,
            json.dumps(overrides),
            json.dumps(ops),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, f"peer process did not finish within {timeout}s"
        return proc.returncode if proc.returncode is not None else -1, out.decode(errors="replace")

    async def cleanup(self) -> None:
        """Flush what the check left behind (where the layer can) and close connections."""
        for layer in self.layers:
            try:
                extensions = list(getattr(layer, "extensions", []) or [])
                if "flush" in extensions:
                    await asyncio.wait_for(layer.flush(), 10)
                close_pools = getattr(layer, "close_pools", None)
                if close_pools is not None:
                    await asyncio.wait_for(close_pools(), 10)
            except Exception:
                # A failed cleanup must not turn into a verdict: the check's own result is already recorded.
                continue
        self.layers.clear()
