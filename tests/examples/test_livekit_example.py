"""The LiveKit examples, run as programs: the WAV streamer against the local server, and the
agent worker's message when no LiveKit server is configured."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from funasr_realtime.server.thread import ServerThread
from tests.conftest import load_speech

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "LIVEKIT_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )


def test_transcribe_wav_prints_each_sentence_right_after_its_flush(grammar_server: ServerThread) -> None:
    long = load_speech("long")
    done = run_example("livekit_transcribe_wav.py", str(long.path), "--url", grammar_server.url, "--speed", "8")
    assert done.returncode == 0, done.stderr
    *finals, summary = done.stdout.splitlines()
    pattern = re.compile(r"\[ *(\d+\.\d\d)s - *(\d+\.\d\d)s\] (.+)  \((\d+) ms after the flush\)")
    matches = [pattern.fullmatch(line) for line in finals]
    assert all(matches), finals
    assert [m.group(3) for m in matches if m] == list(long.texts)
    starts = [float(m.group(1)) for m in matches if m]
    assert starts == sorted(starts) and starts[-1] > 17.5, "seconds on one stream timeline"
    assert re.fullmatch(r"billed \d+ s of audio; median flush-to-final \d+ ms", summary)


def test_agent_explains_what_to_configure_without_a_livekit_server() -> None:
    done = run_example("livekit_agent.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("No LiveKit server configured: set LIVEKIT_URL")
