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
from tests.serving import serving, stops_cleanly
from tests.timing import scaled


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_announces_itself_and_stops_on_signal(sig: signal.Signals) -> None:
    with serving("--engine", "synthetic") as (process, url):
        assert url.endswith("/api-ws/v1/inference")
        assert stops_cleanly(process, sig, timeout=10)


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
    with serving("--engine", "synthetic", "--workers", "2") as (process, url):
        assert url.endswith("/api-ws/v1/inference")
        base = _http_base(url)
        workers: set[int] = set()
        for _ in range(200):  # each request reaches one worker; both answer soon
            body = httpx.get(base + "/health", timeout=scaled(10)).json()
            assert body["workers"] == 2 and body["pid"] != process.pid
            workers.add(body["pid"])
            if len(workers) == 2:
                break
        assert len(workers) == 2
        assert stops_cleanly(process, sig, timeout=15)
        assert process.stdout is not None and process.stdout.read() == ""  # one listening line, nothing else
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


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
    with serving("--engine", "synthetic", "--workers", "2") as (process, url):
        base = _http_base(url)
        workers = {httpx.get(base + "/health", timeout=scaled(10)).json()["pid"] for _ in range(4)}
        assert len(workers) == 2  # handed over in turn
        process.kill()  # no chance to stop them: they see their stdin end
        process.wait(timeout=scaled(10))
        deadline = time.monotonic() + scaled(15)
        while time.monotonic() < deadline and not all(_gone(pid) for pid in workers):
            time.sleep(0.05)
        assert all(_gone(pid) for pid in workers)


def _http_base(url: str) -> str:
    """``http://host:port`` of the server announced at the WebSocket ``url``."""
    return "http://" + url.split("//", 1)[1].split("/", 1)[0]


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status.rsplit(")", 1)[1].split()[0] == "Z"
