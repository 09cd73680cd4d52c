"""The SDK-compatible example programs, run as programs against the local server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from funasr_realtime.cli.microphone import MIC_FILE_ENV
from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import unused_url
from tests.conftest import load_speech

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
S1 = load_speech("s1")
S2 = load_speech("s2")


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environment, **(env or {})},
    )


def test_call_file_prints_the_sentences_and_metrics(grammar_server: ServerThread) -> None:
    done = run_example("compat_call_file.py", env={"DASHSCOPE_WEBSOCKET_BASE_URL": grammar_server.url})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(rf"\[ *0\.\d\ds - +2\.\d\ds\] {S1.text}  \(billed {{'duration': 3}}\)", lines[0])
    assert re.fullmatch(r"request id [0-9a-f]{32}, first package delay \d+ ms, last package delay \d+ ms", lines[1])


def test_call_file_reports_a_server_error() -> None:
    done = run_example("compat_call_file.py", "--url", unused_url())
    assert done.returncode == 1
    assert done.stderr.startswith("error 503 ConnectError: cannot connect")


def test_stream_file_prints_partials_then_the_final(grammar_server: ServerThread) -> None:
    done = run_example("compat_stream_file.py", str(S2.path), "--url", grammar_server.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "task started"
    assert lines[-3:-1] == ["task completed", "connection closed"]
    finals = [line for line in lines if line.startswith("final: ")]
    assert len(finals) == 1 and finals[0].startswith(f"final: {S2.text}  (request ")
    assert "{'duration': 3}" in finals[0]
    assert any(line.startswith("partial: ") for line in lines[: lines.index(finals[0])])
    assert re.fullmatch(r"request id [0-9a-f]{32}, first package delay \d+ ms, last package delay \d+ ms", lines[-1])


def test_stream_mic_with_the_stand_in_device(grammar_server: ServerThread) -> None:
    done = run_example(
        "compat_stream_mic.py", env={"DASHSCOPE_WEBSOCKET_BASE_URL": grammar_server.url, MIC_FILE_ENV: str(S1.path)}
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "listening (Ctrl+C to stop)"
    assert f"final: {S1.text}" in lines
    assert lines[-2] == "connection closed"
    assert re.fullmatch(r"request id [0-9a-f]{32}", lines[-1])


def test_stream_mic_without_an_audio_library_says_so(tmp_path: Path) -> None:
    # Modules that fail to import, shadowing any installed sounddevice / PyAudio.
    for module in ("sounddevice", "pyaudio"):
        (tmp_path / f"{module}.py").write_text("raise ImportError('not installed here')\n")
    done = run_example("compat_stream_mic.py", env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 2
    assert done.stdout == ""
    assert "no microphone available" in done.stderr and "pip install sounddevice" in done.stderr


@pytest.mark.parametrize("name", ["compat_call_file.py", "compat_stream_file.py", "compat_stream_mic.py"])
def test_examples_use_the_sdk_import_style(name: str) -> None:
    source = (EXAMPLES / name).read_text()
    assert "import funasr_realtime.compat as dashscope" in source
    assert "dashscope.base_websocket_api_url =" in source and "dashscope.api_key =" in source
