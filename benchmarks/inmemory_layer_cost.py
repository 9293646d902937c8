"""What one delivery costs Channels' in-memory layer, against the sockets held in the process.

Channels' ``InMemoryChannelLayer`` runs its expiry sweep (``_clean_expired``) at the start of every ``receive()``
and every ``group_send()``, and the sweep walks every channel with a queue (each consumer waiting in
``receive()`` has one) and every group membership. A process holding N sockets therefore pays O(N) per delivered
message: the per-message cost grows with the sockets held even when they are idle, which is what limits the idle
sockets one server process holds on this layer (docs/capacity.md, "Idle sockets per server process").

This measures it without a server or a network, in one process: N channels, each with a consumer waiting in
``receive()`` as a Channels consumer does, in rooms of 10; messages sent to the rooms one after the other, each
reaching its 10 members. Per N, side by side: the CPU µs per delivery with the layer as shipped and with the sweep
disabled (a subclass whose ``_clean_expired`` does nothing), their ratio, and what the shipped cost means for a
process whose N sockets each send one message a minute into their room (the ``idle-sockets`` scenario): the share
of one core that the layer alone needs. The order of the two sides alternates per N.

    python benchmarks/inmemory_layer_cost.py [--sockets 100,1000,2500,5000,10000,20000] [--cpu-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from dataclasses import dataclass
from typing import Final

from channels.layers import InMemoryChannelLayer

ROOM: Final = 10
#: One message a minute per socket, each reaching its room: the idle-sockets scenario.
HEARTBEAT_PER_S: Final = 1 / 60


class SweeplessLayer(InMemoryChannelLayer):  # type: ignore[misc]
    """The in-memory layer without its expiry sweep: what a delivery costs when nothing walks the whole layer."""

    def _clean_expired(self) -> None:
        return None


@dataclass(frozen=True)
class Cost:
    sockets: int
    sends: int
    deliveries: int
    cpu_s: float

    @property
    def us_per_delivery(self) -> float:
        return self.cpu_s / self.deliveries * 1e6


async def _measure(layer_class: type[InMemoryChannelLayer], sockets: int, sends: int) -> Cost:
    layer = layer_class(capacity=100)
    names = [await layer.new_channel() for _ in range(sockets)]
    rooms = max(1, sockets // ROOM)
    for i, name in enumerate(names):
        await layer.group_add(f"room-{i % rooms}", name)
    received = 0
    done = asyncio.Event()
    expected = 0

    async def consume(name: str) -> None:
        nonlocal received
        while True:
            await layer.receive(name)
            received += 1
            if received >= expected:
                done.set()

    consumers = [asyncio.create_task(consume(name)) for name in names]
    await asyncio.sleep(0.05)  # every consumer waits in receive(), as a connected consumer does
    members = [sum(1 for i in range(sockets) if i % rooms == room) for room in range(rooms)]
    expected = sum(members[k % rooms] for k in range(sends))
    gc.collect()
    t0 = time.process_time()
    for k in range(sends):
        await layer.group_send(f"room-{k % rooms}", {"type": "chat.message", "text": "x" * 128})
        await asyncio.sleep(0)  # the members run their receive() before the next send, as on a quiet server
    await asyncio.wait_for(done.wait(), timeout=600)
    cpu = time.process_time() - t0
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    return Cost(sockets, sends, received, cpu)


def _sends_for(sockets: int, cpu_s: float) -> int:
    # A probe of a few sends estimates the cost, so that every N spends about cpu_s a side.
    probe = asyncio.run(_measure(InMemoryChannelLayer, sockets, 5))
    per_send = probe.cpu_s / probe.sends
    return max(5, min(20_000, round(cpu_s / max(per_send, 1e-6))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sockets",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[100, 1000, 2500, 5000, 10000, 20000],
        help="Comma-separated socket counts held in the process (default: 100,1000,2500,5000,10000,20000).",
    )
    parser.add_argument(
        "--cpu-s", type=float, default=1.0, help="About this much CPU per socket count and side (default: 1 s)."
    )
    args = parser.parse_args(argv)
    print(
        f"rooms of {ROOM}; CPU µs per delivery (time.process_time over the sends and their deliveries); "
        f"'core share' = the shipped layer's CPU for every socket sending {HEARTBEAT_PER_S * 60:g} message a minute"
    )
    header = f"{'sockets':>8} {'sends':>6} {'shipped µs':>11} {'no sweep µs':>12} {'ratio':>6} {'core share':>11}"
    print(header)
    print("-" * len(header))
    for index, sockets in enumerate(args.sockets):
        sends = _sends_for(sockets, args.cpu_s)
        sides = [InMemoryChannelLayer, SweeplessLayer]
        if index % 2:
            sides.reverse()
        costs = {side: asyncio.run(_measure(side, sockets, sends)) for side in sides}
        shipped, sweepless = costs[InMemoryChannelLayer], costs[SweeplessLayer]
        deliveries_per_s = sockets * HEARTBEAT_PER_S * ROOM
        share = deliveries_per_s * shipped.us_per_delivery / 1e6
        print(
            f"{sockets:>8,} {sends:>6,} {shipped.us_per_delivery:>11,.1f} {sweepless.us_per_delivery:>12,.1f} "
            f"{shipped.us_per_delivery / sweepless.us_per_delivery:>6.1f} {share:>10.0%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
