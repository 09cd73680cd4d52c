"""`funasr-realtime serve` prints its URL once ready and stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.timing import scaled


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_announces_itself_and_stops_on_signal(sig: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "funasr_realtime.cli", "serve", "--engine", "synthetic"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on ws://127.0.0.1:") and line.rstrip().endswith("/api-ws/v1/inference")
        process.send_signal(sig)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()


def test_serve_refuses_a_public_bind_without_a_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "funasr_realtime.cli", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "without an API key" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_with_workers_announces_once_and_stops_every_worker(sig: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "funasr_realtime.cli", "serve", "--engine", "synthetic", "--workers", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on ws://127.0.0.1:") and line.rstrip().endswith("/api-ws/v1/inference")
        base = "http://" + line.split("//", 1)[1].split("/", 1)[0]
        workers: set[int] = set()
        for _ in range(200):  # each request reaches one worker; both answer soon
            body = httpx.get(base + "/health", timeout=scaled(10)).json()
            assert body["workers"] == 2 and body["pid"] != process.pid
            workers.add(body["pid"])
            if len(workers) == 2:
                break
        assert len(workers) == 2
        process.send_signal(sig)
        assert process.wait(timeout=scaled(15)) == 0
        assert process.stdout.read() == ""  # one listening line, nothing else on stdout
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        process.kill()


def test_serve_refuses_zero_workers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "funasr_realtime.cli", "serve", "--engine", "synthetic", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "funasr-realtime: error: --workers must be at least 1"


def test_workers_do_not_outlive_a_killed_server() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "funasr_realtime.cli", "serve", "--engine", "synthetic", "--workers", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base = "http://" + process.stdout.readline().split("//", 1)[1].split("/", 1)[0]
        workers = {httpx.get(base + "/health", timeout=scaled(10)).json()["pid"] for _ in range(4)}
        assert len(workers) == 2  # handed over in turn
        process.kill()  # no chance to stop them: they see their stdin end
        process.wait(timeout=scaled(10))
        deadline = time.monotonic() + scaled(15)
        while time.monotonic() < deadline and not all(_gone(pid) for pid in workers):
            time.sleep(0.05)
        assert all(_gone(pid) for pid in workers)
    finally:
        process.kill()


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status.rsplit(")", 1)[1].split()[0] == "Z"
