"""The CLI a newcomer meets (issue 13), run as a program against the real local server:
outputs that never overwrite each other, JSON Lines, one-line errors, progress that follows
recognition, the closing summary, subtitle cues on word times, hints that match, flags anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection

from funasr_realtime.cli.microphone import MIC_FILE_ENV
from funasr_realtime.server.thread import ServerThread
from tests.client.scripted import event, read_run_task, result, scripted_in_thread
from tests.compat.conftest import unused_url
from tests.conftest import SPEECH, load_speech
from tests.serving import serving, stops_cleanly
from tests.timing import scaled

from .test_transcribe import SUMMARY, cue_times

FORMATS = SPEECH / "formats"
S1 = load_speech("s1")
S2 = load_speech("s2")


def cli(*argv: str | Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``funasr-realtime ARGV`` as a program, without the developer's DashScope settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    return subprocess.run(
        [sys.executable, "-m", "funasr_realtime.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        check=False,
        env={**environment, **(env or {})},
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The failure's only stderr line; asserts the exit code and that nothing went to stdout."""
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("funasr-realtime: error: "), done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


# --------------------------------------------------------------------------- outputs


def test_inputs_sharing_a_stem_get_distinct_outputs(grammar_server: ServerThread, tmp_path: Path) -> None:
    shutil.copy(S1.path, tmp_path / "talk.wav")
    shutil.copy(FORMATS / "s1.opus", tmp_path / "talk.ogg")
    shutil.copy(S2.path, tmp_path / "other.wav")
    out = tmp_path / "subs"
    files = [tmp_path / "talk.wav", tmp_path / "talk.ogg", tmp_path / "other.wav"]
    done = cli("transcribe", *files, "--url", grammar_server.url, "--output", "srt", "--output-dir", out)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["other.srt", "talk.ogg.srt", "talk.wav.srt"]
    assert (out / "talk.wav.srt").read_text().rstrip("\n").endswith(S1.text)
    assert (out / "talk.ogg.srt").read_text().rstrip("\n").endswith(S1.text)
    assert (out / "other.srt").read_text().rstrip("\n").endswith(S2.text)


def test_inputs_that_would_write_the_same_file_are_refused(grammar_server: ServerThread, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(S1.path, tmp_path / folder / "talk.wav")
    out = tmp_path / "subs"
    done = cli(
        "transcribe", tmp_path / "a/talk.wav", tmp_path / "b/talk.wav", "--url", grammar_server.url, "--output-dir", out
    )
    assert "would both be written to" in one_error_line(done) and "talk.wav.txt" in done.stderr
    assert not out.exists(), "refused before anything was transcribed or written"


def test_several_files_as_json_are_json_lines(grammar_server: ServerThread) -> None:
    done = cli("transcribe", S1.path, S2.path, "--url", grammar_server.url, "--output", "json")
    assert done.returncode == 0, done.stderr
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(d["file"], d["text"]) for d in documents] == [(str(S1.path), S1.text), (str(S2.path), S2.text)]
    single = cli("transcribe", S1.path, "--url", grammar_server.url, "--output", "json")
    assert json.loads(single.stdout)["text"] == S1.text, "one file stays one (indented) document"


# --------------------------------------------------------------------------- one-line errors


def test_a_grammar_the_engine_refuses_is_one_line(tmp_path: Path) -> None:
    grammar = tmp_path / "bad.jsgf"
    grammar.write_text("this is not a grammar\n")
    done = cli("serve", "--grammar", grammar)
    line = one_error_line(done)
    assert f"--grammar {grammar}: invalid JSGF grammar" in line
    assert "loglevel" not in line, "no advice naming a Python argument"
    assert done.stdout == "", "the engine's echo of the text it could not parse is not printed"


def test_a_good_grammar_still_serves(tmp_path: Path) -> None:
    with serving("--grammar", str(SPEECH / "sentences.jsgf")) as (process, _):
        assert stops_cleanly(process)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("transcribe", SPEECH), "Is a directory: "),
        (("transcribe", S1.path, "--url", "ws://speech.example.com/api-ws/v1/inference"), "or --allow-insecure"),
        (("transcribe", S1.path, "--url", "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"), "--api-key"),
        (("transcribe", S1.path, "--url", unused_url()), "cannot connect"),
        (("transcribe", S1.path, "--max-lines", "0"), "--max-lines must be positive, not 0"),
        (("transcribe", S1.path, "--max-cue-seconds", "-1"), "--max-cue-seconds must be positive"),
    ],
    ids=["directory", "insecure", "no-key", "unreachable", "max-lines", "max-cue-seconds"],
)
def test_every_error_is_one_line_naming_a_real_flag(argv: tuple[str | Path, ...], fragment: str) -> None:
    assert fragment in one_error_line(cli(*argv))


def test_a_bad_key_is_one_line_without_the_key(strict_server: ServerThread) -> None:
    line = one_error_line(cli("transcribe", S1.path, "--url", strict_server.url, "--api-key", "sk-wrong-0123"))
    assert "HTTP 401" in line and "sk-wrong-0123" not in line


def test_allow_insecure_is_a_real_flag() -> None:
    assert "--allow-insecure" in cli("transcribe", "--help").stdout
    assert "--allow-insecure" in cli("mic", "--help").stdout


# --------------------------------------------------------------------------- summary, --quiet, flags anywhere


def test_a_summary_line_closes_a_run(grammar_server: ServerThread) -> None:
    done = cli("transcribe", S1.path, S2.path, "--url", grammar_server.url)
    assert done.returncode == 0
    assert SUMMARY.fullmatch(done.stderr), done.stderr
    audio_s = (S1.duration_ms + S2.duration_ms) / 1000
    assert done.stderr.startswith(
        f"funasr-realtime: done: 2 files, 2 sentences, {audio_s:.1f} s of audio, 6 s billed, "
    )


@pytest.mark.parametrize("where", ["-q", "--quiet"])
def test_quiet_after_the_subcommand_drops_the_summary(grammar_server: ServerThread, where: str) -> None:
    done = cli("transcribe", S1.path, "--url", grammar_server.url, where)
    assert (done.returncode, done.stdout, done.stderr) == (0, S1.text + "\n", "")


def test_quiet_before_the_subcommand_drops_the_summary(grammar_server: ServerThread) -> None:
    done = cli("--quiet", "transcribe", S1.path, "--url", grammar_server.url)
    assert (done.returncode, done.stdout, done.stderr) == (0, S1.text + "\n", "")


def test_verbose_after_the_subcommand(grammar_server: ServerThread) -> None:
    done = cli("transcribe", S1.path, "--url", grammar_server.url, "-vv", "--quiet")
    assert done.returncode == 0 and done.stdout == S1.text + "\n"
    assert "DEBUG funasr_realtime" in done.stderr, "-vv after the subcommand turns on debug logs"


# --------------------------------------------------------------------------- subtitles on word times


def test_cues_are_cut_on_word_times_to_the_limits_given(grammar_server: ServerThread) -> None:
    whole = cli("transcribe", S1.path, "--url", grammar_server.url, "--output", "srt")
    [(begin, end)] = cue_times(whole.stdout, ",")
    done = cli(
        "transcribe",
        S1.path,
        "--url",
        grammar_server.url,
        "--output",
        "srt",
        "--max-line-chars",
        "16",
        "--max-lines",
        "1",
    )
    assert done.returncode == 0, done.stderr
    texts = [line for line in done.stdout.splitlines() if line and line[0].isalpha()]
    assert len(texts) >= 3 and all(len(t) <= 16 for t in texts)
    assert " ".join(texts) == S1.text, "every word once, in order"
    spans = cue_times(done.stdout, ",")
    assert len(spans) == len(texts) and spans == sorted(spans)
    assert spans[0][0] == begin and all(b < e <= end for b, e in spans), "word times within the sentence"
    short = cli("transcribe", S1.path, "--url", grammar_server.url, "--output", "vtt", "--max-cue-seconds", "0.8")
    assert all(e - b <= 800 for b, e in cue_times(short.stdout, r"\.")) and len(cue_times(short.stdout, r"\.")) >= 2


# --------------------------------------------------------------------------- progress follows recognition


@contextlib.contextmanager
def late_server() -> Iterator[str]:
    """A server that takes all the audio at once but recognizes slowly: after finish-task, a
    final covering half the audio, a pause, then the rest."""

    async def handler(ws: ServerConnection) -> None:
        task_id = (await read_run_task(ws))["header"]["task_id"]
        await ws.send(event("task-started", task_id))
        while not (isinstance(frame := await ws.recv(), str) and '"finish-task"' in frame):
            pass
        half = S1.duration_ms // 2
        await ws.send(result(task_id, "please book a table", final=True, begin=300, end=half))
        await asyncio.sleep(scaled(1.5))
        await ws.send(result(task_id, "for two at seven", final=True, begin=half, end=S1.duration_ms - 100))
        await ws.send(event("task-finished", task_id, {"output": {}, "usage": None}))
        with contextlib.suppress(Exception):
            await ws.wait_closed()

    with scripted_in_thread(handler, timeout=scaled(10)) as url:
        yield url


def on_a_terminal(argv: list[str], timeout: float) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a pseudo-terminal (so the progress bar shows); returns the
    exit code, stdout and everything the terminal received."""
    import pty

    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=follower, env={**environment, "COLUMNS": "120", "TERM": "xterm"}
    )
    os.close(follower)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the program closed the terminal
                    break
                if not data:
                    break
                screen += data
            elif process.poll() is not None:
                break
        else:
            raise AssertionError("the program did not end in time")
        assert process.stdout is not None
        return process.wait(scaled(10)), process.stdout.read().decode(), screen.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        os.close(leader)


def test_the_progress_bar_follows_recognition_not_upload() -> None:
    pytest.importorskip("rich")
    with late_server() as url:
        argv = [sys.executable, "-m", "funasr_realtime.cli", "transcribe", str(S1.path), "--url", url]
        code, out, screen = on_a_terminal(argv, scaled(60))
    assert code == 0, screen[-2000:]
    assert out == "please book a table\nfor two at seven\n"
    percents = [int(p) for p in re.findall(r"(\d+)%", screen)]
    # The whole file is uploaded at once; for 1.5 s only half of it is recognized.
    assert percents.count(50) >= 3, f"50 % shown while the rest was recognized: {percents}"
    assert 100 not in percents[: percents.index(50)], "never 100 % before the results were in"


# --------------------------------------------------------------------------- mic hints


def fake_modules(directory: Path, **sources: str) -> dict[str, str]:
    for module, source in sources.items():
        (directory / f"{module}.py").write_text(source)
    return {"PYTHONPATH": str(directory), MIC_FILE_ENV: ""}


def test_mic_without_portaudio_says_to_install_portaudio(tmp_path: Path) -> None:
    env = fake_modules(
        tmp_path,
        sounddevice="raise OSError('PortAudio library not found')\n",
        pyaudio="raise ImportError('No module named pyaudio')\n",
    )
    line = one_error_line(cli("mic", "--url", unused_url(), env=env))
    assert "sounddevice cannot load: PortAudio library not found" in line
    if sys.platform.startswith("linux"):
        assert "apt-get install libportaudio2" in line
    assert "pip install sounddevice" not in line, "sounddevice is installed: installing it again fixes nothing"
    assert MIC_FILE_ENV in line


def test_mic_without_any_audio_library_says_to_install_one(tmp_path: Path) -> None:
    env = fake_modules(
        tmp_path, sounddevice="raise ImportError('no sounddevice')\n", pyaudio="raise ImportError('no pyaudio')\n"
    )
    line = one_error_line(cli("mic", "--url", unused_url(), env=env))
    assert "pip install sounddevice" in line and "libportaudio2" not in line


def test_mic_help_documents_the_stand_in_file() -> None:
    done = cli("mic", "--help")
    assert done.returncode == 0
    assert MIC_FILE_ENV in done.stdout and "libportaudio2" in done.stdout


def test_mic_with_the_stand_in_file_and_quiet(grammar_server: ServerThread) -> None:
    done = cli("mic", "--url", grammar_server.url, "-q", env={MIC_FILE_ENV: str(S1.path)})
    assert (done.returncode, done.stdout, done.stderr) == (0, S1.text + "\n", "")
