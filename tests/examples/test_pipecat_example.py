"""examples/pipecat_bot.py runs end to end: its own local server, real Silero VAD, the adapter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import load_speech

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipecat_bot.py"


def test_pipecat_bot_transcribes_the_bundled_recording() -> None:
    speech = load_speech("long")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--speed", "4"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("local server: ws://127.0.0.1:")
    finals = [line for line in lines if line.startswith("[")]
    assert [line.split(") ", 1)[1] for line in finals] == list(speech.texts)
    assert any("(finalized)" in line for line in finals), "the VAD stop finalized the Fun-ASR task"
    assert lines[-1] == f"transcript: {speech.text}"
