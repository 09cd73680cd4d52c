"""The examples a newcomer runs first (issue 13): your own --file is not forced through the
bundled grammar, and every failure is one clear line with exit code 1, never a traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audio.reference import engine_sentences
from tests.conftest import load_speech
from tests.timing import scaled

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
S1 = load_speech("s1")


def run_example(name: str, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "LIVEKIT_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        check=False,
        env=environment,
    )


def last_error_line(done: subprocess.CompletedProcess[str], name: str) -> str:
    """Exit code 1 and a one-line reason (a library's own banner may come before it)."""
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    line = done.stderr.splitlines()[-1]
    assert line.startswith(f"{name}: error: "), done.stderr[-2000:]
    return line


def my_recording(tmp_path: Path) -> Path:
    """Speech that is not the bundled recording (a copy elsewhere, as a user's file would be)."""
    return Path(shutil.copy(S1.path, tmp_path / "my.wav"))


def test_demo_with_your_file_uses_the_general_model(tmp_path: Path) -> None:
    done = run_example("demo.py", "--file", my_recording(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.match(r"local server: ws://127\.0\.0\.1:\d+/\S+ \(general English model\)\n", done.stdout)
    finals = re.findall(r"^\[ *\d+\.\d\ds - +\d+\.\d\ds\] (.*)$", done.stdout, flags=re.MULTILINE)
    assert finals == list(engine_sentences(S1.pcm)), "what the open model hears, not a grammar sentence"


def test_demo_with_your_file_and_your_grammar(tmp_path: Path) -> None:
    grammar = tmp_path / "mine.jsgf"
    grammar.write_text("#JSGF V1.0;\ngrammar mine;\npublic <s> = please book a table for two at seven;\n")
    done = run_example("demo.py", "--file", my_recording(tmp_path), "--grammar", grammar)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(grammar mine.jsgf)" in done.stdout.splitlines()[0]
    assert f"] {S1.text}\n" in done.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--cloud",), "--cloud needs an API key: set DASHSCOPE_API_KEY"),
        (("--file", "missing.wav"), "cannot read missing.wav: No such file or directory"),
        (("--file", EXAMPLES / "demo.py"), "is not a WAV file the demo can read"),
        (("--grammar", EXAMPLES / "demo.py"), "the local server did not start: funasr-realtime: error: --grammar"),
    ],
    ids=["cloud-without-key", "missing-file", "not-wav", "bad-grammar"],
)
def test_demo_failures_are_one_line(args: tuple[str | Path, ...], fragment: str) -> None:
    assert fragment in last_error_line(run_example("demo.py", *args), "demo.py")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--cloud",), "--cloud needs an API key: set DASHSCOPE_API_KEY"),
        (("--file", "missing.wav"), "cannot read missing.wav: No such file or directory"),
        (("--file", EXAMPLES / "demo.py"), "is not a WAV file"),
    ],
    ids=["cloud-without-key", "missing-file", "not-wav"],
)
def test_pipecat_bot_failures_are_one_line(args: tuple[str | Path, ...], fragment: str) -> None:
    assert fragment in last_error_line(run_example("pipecat_bot.py", *args), "pipecat_bot.py")


def test_pipecat_bot_with_your_file_uses_the_general_model(tmp_path: Path) -> None:
    done = run_example("pipecat_bot.py", "--file", my_recording(tmp_path), "--speed", "4", timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"local server: ws://127\.0\.0\.1:\d+/\S+ \(general English model\)", lines[0])
    assert lines[-1].startswith("transcript: ") and lines[-1] != f"transcript: {S1.text}", "not the grammar's sentence"


@pytest.mark.parametrize("name", ["compat_call_file.py", "compat_stream_file.py"])
def test_compat_examples_fail_with_one_line(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    line = last_error_line(run_example(name, missing, "--url", "ws://127.0.0.1:9/api-ws/v1/inference"), name)
    assert line == f"{name}: error: No such file or directory: {missing}"
    no_key = last_error_line(run_example(name), name)  # no --url, no $DASHSCOPE_*: the cloud without a key
    assert "No API key provided" in no_key
