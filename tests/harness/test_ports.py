"""Port blocks for emulated readers and the HTTP poll of the gateways: the causes of a CI failure, pinned down."""

from __future__ import annotations

import asyncio
import socket

import pytest

from harness.run import shift_change
from harness.stack.network import ephemeral_port_range, find_free_port_range


def test_reader_blocks_lie_below_the_kernels_ephemeral_range() -> None:
    # Ports the kernel hands to bind(0) and outgoing connections can be taken before the emulator binds them.
    low, _ = ephemeral_port_range()
    for seed in range(20):
        base = find_free_port_range(200, seed=seed)
        assert base + 200 <= low, (seed, base, low)


def test_a_block_keeps_clear_of_the_excluded_ports() -> None:
    readers = find_free_port_range(200, seed=3)
    taken = range(readers, readers + 200)
    for seed in range(50):
        base = find_free_port_range(3, seed=seed, exclude=taken)
        assert base + 3 <= taken.start or base >= taken.stop, (seed, base, taken)


def test_a_block_skips_ports_already_bound() -> None:
    base = find_free_port_range(5, seed=11)
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", base + 2))
        assert find_free_port_range(5, seed=11) != base
    finally:
        holder.close()


def test_impossible_blocks_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="cannot find 70000 consecutive ports"):
        find_free_port_range(70000)


async def test_a_non_http_answer_on_a_status_port_is_named() -> None:
    # What an emulated EKS reader sends a client that speaks HTTP to it: a status push, then the close.
    async def reader(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x07Ek\x01\x00\x00\x02")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reader, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ValueError, match=rf"127.0.0.1:{port} answered GET /status with .*not an HTTP response"):
            await shift_change._http(port, "GET", "/status")
    finally:
        server.close()
        await server.wait_closed()
