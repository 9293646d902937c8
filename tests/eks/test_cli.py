from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from eks_emulator.cli import build_parser, parse_fault
from eks_emulator.faults import FaultKind
from eks_emulator.frames import KeyState, KeyStatus

from .conftest import UNIT, RawClient

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    # Import this checkout, not whatever copy of the package the virtualenv has installed.
    return {**os.environ, "PYTHONPATH": str(ROOT)}


async def _read_until(stream: asyncio.StreamReader, pattern: str, lines: list[str]) -> re.Match[str]:
    while True:
        raw = await asyncio.wait_for(stream.readline(), 5 * UNIT)
        if not raw:
            raise AssertionError("stderr closed before " + pattern + ": " + "".join(lines))
        line = raw.decode()
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            return match


async def test_cli_runs_a_fleet_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    ports_file = tmp_path / "ports.json"
    events_log = tmp_path / "events.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "eks_emulator",
        "--devices=3",
        "--base-port=0",
        "--control-port=0",
        "--service-time=fixed:0",
        "--progress-interval=0.2",
        f"--ports-file={ports_file}",
        f"--events-log={events_log}",
        cwd=ROOT,
        env=_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        started = await _read_until(proc.stderr, r"3 of 3 devices up .*control http://127.0.0.1:(\d+)", lines)
        control_port = int(started.group(1))
        await _read_until(proc.stderr, r"devices up 3/3 \| clients 0 \| events sent 0", lines)
        devices = json.loads(ports_file.read_text())
        assert [d["id"] for d in devices] == [0, 1, 2]
        client = await RawClient.connect(devices[1]["port"])
        assert await client.next_event() == KeyStatus(KeyState.OUT)
        await _read_until(proc.stderr, r"clients 1 \| events sent 1", lines)
        reader, writer = await asyncio.open_connection("127.0.0.1", control_port)
        writer.write(b"POST /devices/1/insert HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), UNIT)).startswith(b"HTTP/1.1 200 ")
        writer.close()
        assert await client.next_event() == KeyStatus(KeyState.IN)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 5 * UNIT) == 0
        # Shutdown closed the client's socket and every listener.
        assert await client.expect_closed() == []
        for device in devices:
            with pytest.raises(OSError):
                await RawClient.connect(device["port"])
        rest = (await proc.stderr.read()).decode()
        assert "stopping" in rest and "Traceback" not in rest
        [event] = [json.loads(line) for line in events_log.read_text().splitlines()]
        assert event["action"] == "insert" and event["device_id"] == 1 and event["pushed"] is True
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_reports_fd_limit_and_exits_1() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)); "
        "from eks_emulator.cli import main; sys.exit(main(['--devices=500', '--base-port=0']))",
        cwd=ROOT,
        env=_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 5 * UNIT)
    assert proc.returncode == 1
    assert "500 devices need about 1064 open files" in err.decode() and "ulimit -n 1064" in err.decode()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--devices=0"], "--devices: must be >= 1"),
        (["--devices=2", "--shard=2/2"], "--shard: shard must be i/n"),
        (["--devices=2", "--base-port=70000"], "port must be 0-65535"),
        (["--devices=2", "--service-time=gauss:1"], "unknown service-time distribution 'gauss'"),
        (["--devices=2", "--fault=kind=melt"], "kind 'melt' is not a fault"),
        (["--devices=2", "--dwell=3,1"], "LOW <= HIGH"),
        ([], "--devices"),
    ],
)
def test_bad_flags(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_scenario_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eks_emulator.cli import main

    bad = tmp_path / "w.csv"
    bad.write_text("1,0,nothex\n")
    with pytest.raises(SystemExit):
        main(["--devices=1", f"--scenario=replay:{bad}"])
    assert f"{bad}:1:3: key_serial_hex" in capsys.readouterr().err


def test_parse_fault() -> None:
    item = parse_fault("kind=reboot,fraction=0.25,at=30,down_s=5,keep_key=false")
    assert item.fault.kind is FaultKind.REBOOT and item.fault.down_s == 5 and item.fault.keep_key is False
    assert (item.fraction, item.at_s) == (0.25, 30.0)
    with pytest.raises(ValueError, match="not name=value"):
        parse_fault("reboot")
