"""Port blocks for emulated readers and the HTTP poll of the gateways: the causes of a CI failure, pinned down."""

from __future__ import annotations

import socket
import threading

import pytest

from harness.stack.network import ephemeral_port_range, find_free_port_range, http_json
from tests.conftest import TIMEOUT


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


def test_a_non_http_answer_on_a_status_port_is_named() -> None:
    # What an emulated EKS reader sends a client that speaks HTTP to it: a status push, then the close.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def reader() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)  # the request, read so that closing does not reset the connection before the answer
        conn.sendall(b"\x07Ek\x01\x00\x00\x02")
        conn.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with pytest.raises(OSError, match=rf"127.0.0.1:{port} answered GET /status with something that is not HTTP"):
            http_json("127.0.0.1", port, "GET", "/status")
    finally:
        thread.join(timeout=TIMEOUT)
        listener.close()
