"""Client CPU per WebSocket round trip for each gevent-usable client candidate, side by side.

Starts one echo server (uvicorn, raw ASGI app, ``--ws websockets-sansio``, uvloop, httptools) in a
subprocess, then runs every candidate in its own monkey-patched gevent subprocess: C connections,
each doing M closed-loop echoes of a ~200-byte JSON text, all connections at once. The client's
CPU (user + sys from ``getrusage``) is taken around the echo phase only, after every socket is open.

    PYTHONPATH=. python benchmarks/ws_clients.py [--connections 20] [--messages 1000] [--repeat 1]

Prints a table; ``docs/clients.md`` records one run of it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

__all__ = ["CANDIDATES", "client_main", "echo_app", "main"]

HERE = Path(__file__).resolve().parent
ORIGIN = "http://127.0.0.1"
#: A client run longer than this is reported as failed (a candidate that deadlocks under gevent).
CLIENT_TIMEOUT = 60.0

Send = Callable[[str], None]
Recv = Callable[[], str]
Close = Callable[[], None]
Opened = tuple[Send, Recv, Close]


# The server ------------------------------------------------------------------------------------


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI WebSocket echo, so the server spends as little as possible per message."""
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] != "websocket.receive":
            return
        if event.get("text") is not None:
            await send({"type": "websocket.send", "text": event["text"]})
        else:
            await send({"type": "websocket.send", "bytes": event["bytes"]})


def serve(fd: int) -> None:
    import uvicorn

    uvicorn.run(
        echo_app,
        fd=fd,
        ws="websockets-sansio",
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        ws_ping_interval=None,
    )


# The candidates (imported inside the gevent child, after monkey-patching) -----------------------


def open_websocket_client(url: str) -> Opened:
    import websocket

    ws = websocket.create_connection(url, origin=ORIGIN, enable_multithread=False)

    def send(text: str) -> None:
        ws.send(text)

    def recv() -> str:
        data = ws.recv()
        assert isinstance(data, str)
        return data

    return send, recv, ws.close


def open_websockets_sync(url: str) -> Opened:
    from websockets.sync.client import connect
    from websockets.typing import Origin

    ws = connect(url, origin=Origin(ORIGIN), compression=None)

    def recv() -> str:
        data = ws.recv()
        assert isinstance(data, str)
        return data

    return ws.send, recv, ws.close


def open_harness_wsclient(url: str) -> Opened:
    from harness.load.wsclient import connect

    ws = connect(url, origin=ORIGIN, timeout=10)

    def recv() -> str:
        data = ws.recv().data
        assert isinstance(data, str)
        return data

    return ws.send_text, recv, ws.close


def open_wsproto(url: str) -> Opened:
    from urllib.parse import urlsplit

    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = WSConnection(ConnectionType.CLIENT)
    host = f"{parts.hostname}:{parts.port}"
    sock.sendall(conn.send(Request(host=host, target=parts.path or "/", extra_headers=[(b"origin", ORIGIN.encode())])))
    pending: list[str] = []
    partial: list[str] = []

    def pump() -> bool:
        data = sock.recv(65536)
        conn.receive_data(data or None)
        accepted = False
        for event in conn.events():
            if isinstance(event, AcceptConnection):
                accepted = True
            elif isinstance(event, TextMessage):
                partial.append(event.data)
                if event.message_finished:
                    pending.append("".join(partial))
                    partial.clear()
            elif isinstance(event, Ping):
                sock.sendall(conn.send(event.response()))
            elif isinstance(event, CloseConnection):
                raise ConnectionError(f"closed {event.code}")
        if not data:
            raise ConnectionError("EOF")
        return accepted

    while not pump():
        pass

    def send(text: str) -> None:
        sock.sendall(conn.send(TextMessage(data=text)))

    def recv() -> str:
        while not pending:
            pump()
        return pending.pop(0)

    def close() -> None:
        sock.sendall(conn.send(CloseConnection(code=1000)))
        sock.close()

    return send, recv, close


CANDIDATES: dict[str, Callable[[str], Opened]] = {
    "websocket-client": open_websocket_client,
    "websockets-sync": open_websockets_sync,
    "harness.load.wsclient": open_harness_wsclient,
    "wsproto+gevent": open_wsproto,
}


def payloads(conn: int, count: int) -> list[str]:
    """~200-byte JSON texts, each unique so a misrouted or stale echo cannot pass."""
    pad = "x" * 150
    return [json.dumps({"type": "echo", "conn": conn, "seq": seq, "pad": pad}) for seq in range(count)]


def client_main(name: str, url: str, connections: int, messages: int) -> dict[str, Any]:
    """Run one candidate; call only in a process that monkey-patched with gevent first."""
    import resource

    import gevent  # type: ignore[import-untyped]
    from gevent.event import Event  # type: ignore[import-untyped]

    opener = CANDIDATES[name]
    start = Event()
    mismatches = [0]

    def user(conn: int) -> int:
        texts = payloads(conn, messages)
        send, recv, close = opener(url)
        start.wait()
        done = 0
        for text in texts:
            send(text)
            if recv() != text:
                mismatches[0] += 1
            done += 1
        close()
        return done

    greenlets = [gevent.spawn(user, conn) for conn in range(connections)]
    gevent.sleep(0.5)  # every socket open before the clock starts
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    start.set()
    gevent.joinall(greenlets)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    errors = [repr(g.exception) for g in greenlets if g.exception is not None]
    round_trips = sum(g.value for g in greenlets if g.successful())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "round_trips": round_trips,
        "wall_s": wall,
        "cpu_s": cpu,
        "correct": not errors and mismatches[0] == 0 and round_trips == connections * messages,
        "error": errors[0] if errors else (f"{mismatches[0]} mismatched echoes" if mismatches[0] else ""),
    }


# The driver ------------------------------------------------------------------------------------

CHILD = """
from gevent import monkey
monkey.patch_all()
import json, sys
sys.path.insert(0, {here!r})
import ws_clients
print(json.dumps(ws_clients.client_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
"""


def run_candidate(name: str, url: str, connections: int, messages: int, server_pid: int) -> dict[str, Any]:
    import psutil

    server = psutil.Process(server_pid)
    server_before = server.cpu_times()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD.format(here=str(HERE)), name, url, str(connections), str(messages)],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"correct": False, "error": f"no result within {CLIENT_TIMEOUT:.0f} s"}
    server_after = server.cpu_times()
    if proc.returncode != 0 or not proc.stdout.strip():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"correct": False, "error": f"exit {proc.returncode}: {last}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = (server_after.user - server_before.user) + (server_after.system - server_before.system)
    return result


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ["gevent", "websocket-client", "websockets", "wsproto", "uvicorn", "uvloop"]
    versions = ", ".join(f"{p} {version(p)}" for p in packages)
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}; {versions}"


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [
        "| candidate | round trips | wall s | client CPU µs/round trip | round trips/s "
        "| server CPU µs/round trip | correct |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in rows:
        if "round_trips" not in r or not r["round_trips"]:
            lines.append(f"| {name} | 0 | – | – | – | – | no: {r.get('error', '')} |")
            continue
        n = r["round_trips"]
        lines.append(
            f"| {name} | {n:,} | {r['wall_s']:.2f} | {r['cpu_s'] / n * 1e6:.1f} | {n / r['wall_s']:,.0f} "
            f"| {r['server_cpu_s'] / n * 1e6:.1f} | {'yes' if r['correct'] else 'no: ' + r['error']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000, help="echoes per connection")
    parser.add_argument("--repeat", type=int, default=1, help="run every candidate this many times, interleaved")
    parser.add_argument("--only", action="append", choices=list(CANDIDATES), help="run only these candidates")
    args = parser.parse_args(argv)
    names = args.only or list(CANDIDATES)

    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import ws_clients; ws_clients.serve({fd})"
    server = subprocess.Popen([sys.executable, "-c", code], pass_fds=[fd])
    listener.close()
    url = f"ws://127.0.0.1:{port}/"
    try:
        time.sleep(1.0)  # uvicorn's startup; the socket already accepts, so this is only for fairness
        rows = []
        for _ in range(args.repeat):
            for name in names:
                rows.append((name, run_candidate(name, url, args.connections, args.messages, server.pid)))
    finally:
        server.terminate()
        server.wait(10)
    print(f"machine: {machine()}")
    print(f"workload: {args.connections} connections x {args.messages} echoes of a ~200-byte JSON text, gevent")
    print("server: uvicorn, raw ASGI echo, --ws websockets-sansio, uvloop, httptools; same machine")
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
