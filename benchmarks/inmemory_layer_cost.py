"""What joining and one delivery cost Channels' in-memory layer, against the sockets held in the process.

Channels' ``InMemoryChannelLayer`` runs its expiry sweep (``_clean_expired``) at the start of every ``receive()``
and every ``group_send()``, and the sweep walks every channel with a queue (each consumer waiting in
``receive()`` has one) and every group membership. A process holding N sockets therefore pays O(N) per delivered
message, idle sockets included, and the k-th consumer to connect pays O(k) for its first ``receive()``: O(N²) to
open N sockets. That bounds the idle sockets one server process holds on this layer, whatever else they cost
(docs/capacity.md, "Idle sockets per server process").

This measures it without a server or a network, in one process: N channels in rooms of 10, each with a consumer
that joins its room and waits in ``receive()`` as a Channels consumer does; then messages sent to the rooms one
after the other, each delivered to its 10 members before the next. Per N, side by side: the CPU µs per consumer
joining and per delivery, with the layer as shipped and with the sweep disabled (a subclass whose
``_clean_expired`` does nothing), their ratio, and what the shipped cost means for a process whose N sockets each
send one message a minute into their room (the ``idle-sockets`` scenario): the share of one core the layer alone
needs. The order of the two sides alternates per N.

    python benchmarks/inmemory_layer_cost.py [--sockets 100,1000,2500,5000,10000] [--cpu-s 1]
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
    join_cpu_s: float
    sends: int
    deliveries: int
    cpu_s: float

    @property
    def us_per_join(self) -> float:
        return self.join_cpu_s / self.sockets * 1e6

    @property
    def us_per_delivery(self) -> float:
        return self.cpu_s / self.deliveries * 1e6


async def _measure(layer_class: type[InMemoryChannelLayer], sockets: int, cpu_s: float) -> Cost:
    layer = layer_class(capacity=100)
    names = [await layer.new_channel() for _ in range(sockets)]
    rooms = max(1, sockets // ROOM)
    members = [len(range(room, sockets, rooms)) for room in range(rooms)]
    received = 0

    async def consume(name: str) -> None:
        nonlocal received
        while True:
            await layer.receive(name)
            received += 1

    gc.collect()
    # Joining: each consumer enters its room and starts waiting in receive(), as a connecting consumer does; the
    # first receive() of the k-th one sweeps the k - 1 already waiting.
    t0 = time.process_time()
    for i, name in enumerate(names):
        await layer.group_add(f"room-{i % rooms}", name)
    consumers = [asyncio.create_task(consume(name)) for name in names]
    await asyncio.sleep(0)
    join_cpu = time.process_time() - t0
    expected = sends = 0
    t0 = time.process_time()
    # Each message is delivered to its whole room before the next is sent, as on a quiet server; at least 5 sends,
    # then until about cpu_s of CPU is spent.
    while sends < 5 or (time.process_time() - t0 < cpu_s and sends < 100_000):
        room = sends % rooms
        expected += members[room]
        await layer.group_send(f"room-{room}", {"type": "chat.message", "text": "x" * 128})
        sends += 1
        while received < expected:
            await asyncio.sleep(0)
    cpu = time.process_time() - t0
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    return Cost(sockets, join_cpu, sends, received, cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sockets",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[100, 1000, 2500, 5000, 10000],
        help="Comma-separated socket counts held in the process (default: 100,1000,2500,5000,10000; 20,000 "
        "spends about 10 minutes of CPU joining its consumers on the shipped layer).",
    )
    parser.add_argument(
        "--cpu-s", type=float, default=1.0, help="About this much CPU per socket count and side (default: 1 s)."
    )
    args = parser.parse_args(argv)
    print(
        f"rooms of {ROOM}; CPU µs (time.process_time) per consumer joining (group_add and its first receive()) and "
        f"per delivery, shipped layer and without its sweep; 'core share' = the shipped layer's CPU for every "
        f"socket sending {HEARTBEAT_PER_S * 60:g} message a minute into its room"
    )
    header = (
        f"{'sockets':>8} {'join µs':>9} {'no sweep':>9} {'sends':>7} {'delivery µs':>12} {'no sweep':>9} "
        f"{'ratio':>6} {'core share':>11}"
    )
    print(header)
    print("-" * len(header))
    for index, sockets in enumerate(args.sockets):
        sides = [InMemoryChannelLayer, SweeplessLayer]
        if index % 2:
            sides.reverse()
        costs = {side: asyncio.run(_measure(side, sockets, args.cpu_s)) for side in sides}
        shipped, sweepless = costs[InMemoryChannelLayer], costs[SweeplessLayer]
        deliveries_per_s = sockets * HEARTBEAT_PER_S * ROOM
        share = deliveries_per_s * shipped.us_per_delivery / 1e6
        print(
            f"{sockets:>8,} {shipped.us_per_join:>9,.1f} {sweepless.us_per_join:>9,.1f} {shipped.sends:>7,} "
            f"{shipped.us_per_delivery:>12,.1f} {sweepless.us_per_delivery:>9,.1f} "
            f"{shipped.us_per_delivery / sweepless.us_per_delivery:>6.1f} {share:>10.0%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
