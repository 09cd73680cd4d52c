"""`funasr-realtime serve` prints its URL once ready and stops cleanly on a signal."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest


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
