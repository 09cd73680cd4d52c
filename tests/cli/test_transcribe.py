"""``funasr-realtime transcribe`` end to end against the local server, on the speech fixtures."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import time
from array import array
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection

from funasr_realtime import ConnectionClosed
from funasr_realtime.cli import transcribe as transcribe_module
from funasr_realtime.cli.main import main
from funasr_realtime.client import Reconnected
from funasr_realtime.server.thread import ServerThread
from tests.audio.media import encode, wav_bytes, write
from tests.audio.reference import engine_sentences, long_speech
from tests.client.scripted import event, read_run_task, result, scripted_in_thread
from tests.compat.conftest import STRICT_KEY, unused_url
from tests.conftest import SPEECH, load_speech
from tests.timing import scaled

FORMATS = SPEECH / "formats"
S1 = load_speech("s1")
S2 = load_speech("s2")
LONG = load_speech("long")


# The closing line of a successful run (absent with --quiet and on failure).
SUMMARY = re.compile(
    r"funasr-realtime: done: \d+ files?, \d+ sentences?, \d+\.\d s of audio, \d+ s billed, \d+\.\d s wall time\n\Z"
)


def without_summary(code: int, err: str) -> str:
    """stderr without the summary line, which a successful run ends with: the rest is warnings."""
    if code != 0:
        assert not SUMMARY.search(err), "a failure is its one error line, no summary"
        return err
    match = SUMMARY.search(err)
    assert match, f"no summary line in {err!r}"
    return err[: match.start()]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["transcribe", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, without_summary(code, err)


def test_txt_is_the_default(grammar_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, S1.path, "--url", grammar_server.url) == (0, S1.text + "\n", "")


def test_json_has_the_sentences_words_and_usage(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, S1.path, "--url", grammar_server.url, "--output", "json")
    assert code == 0
    document = json.loads(out)
    assert document["file"] == str(S1.path)
    assert document["text"] == S1.text
    assert document["duration_ms"] == S1.duration_ms
    assert document["billed_seconds"] == 3
    assert len(document["task_ids"]) == 1 and re.fullmatch(r"[0-9a-f]{32}", document["task_ids"][0])
    [sentence] = document["sentences"]
    assert sentence["sentence_end"] is True
    assert [w["text"] for w in sentence["words"]] == S1.text.split()


def cue_times(text: str, separator: str) -> list[tuple[int, int]]:
    pattern = rf"(\d\d):(\d\d):(\d\d){separator}(\d{{3}}) --> (\d\d):(\d\d):(\d\d){separator}(\d{{3}})"
    spans = []
    for match in re.finditer(pattern, text):
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        spans.append((((h1 * 60 + m1) * 60 + s1) * 1000 + ms1, ((h2 * 60 + m2) * 60 + s2) * 1000 + ms2))
    return spans


@pytest.mark.parametrize(("format", "separator", "header"), [("srt", ",", "1\n"), ("vtt", r"\.", "WEBVTT\n\n")])
def test_subtitles_take_their_times_from_the_sentences(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str], format: str, separator: str, header: str
) -> None:
    code, out, _ = run(capsys, S1.path, "--url", grammar_server.url, "--output", format)
    assert code == 0
    assert out.startswith(header)
    assert out.rstrip("\n").endswith(S1.text)
    [(begin, end)] = cue_times(out, separator)
    assert 200 <= begin < 600 and 2000 < end <= S1.duration_ms  # speech spans 0.3 s .. 2.2 s


def test_a_long_file_gives_one_cue_per_sentence(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    long = load_speech("long")
    code, out, _ = run(capsys, long.path, "--url", grammar_server.url, "--output", "srt")
    assert code == 0
    spans = cue_times(out, ",")
    assert [line for line in out.splitlines() if line and line[0].isalpha()] == list(long.texts)
    assert spans == sorted(spans) and all(b < e for b, e in spans)


@pytest.mark.parametrize("name", ["s1.mp3", "s1.aac", "s1.amr", "s1.opus", "s1.spx"])
def test_every_format_transcribes_to_the_wav_text(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert run(capsys, FORMATS / name, "--url", grammar_server.url) == (0, S1.text + "\n", "")


def test_raw_pcm_and_unknown_extensions(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    raw = tmp_path / "speech.pcm"
    raw.write_bytes(S1.pcm)
    assert run(capsys, raw, "--url", grammar_server.url)[1] == S1.text + "\n"
    sniffed = tmp_path / "speech.bin"  # no telling extension: the content says MP3
    shutil.copy(FORMATS / "s1.mp3", sniffed)
    assert run(capsys, sniffed, "--url", grammar_server.url)[1] == S1.text + "\n"
    forced = tmp_path / "speech.dat"
    forced.write_bytes(S1.pcm)
    assert run(capsys, forced, "--url", grammar_server.url, "--format", "pcm")[1] == S1.text + "\n"


def test_8k_audio_with_an_8k_capable_model(grammar_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    wav = SPEECH / "s2_8k.wav"
    code, out, _ = run(capsys, wav, "--url", grammar_server.url, "--model", "paraformer-realtime-v2")
    assert (code, out) == (0, S2.text + "\n")


def test_several_files_to_stdout_and_to_a_directory(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, S1.path, S2.path, "--url", grammar_server.url)
    assert code == 0
    assert out == f"==> {S1.path} <==\n{S1.text}\n==> {S2.path} <==\n{S2.text}\n"
    code, out, _ = run(
        capsys, S1.path, FORMATS / "s1.opus", "--url", grammar_server.url, "--output", "vtt", "--output-dir", tmp_path
    )
    assert (code, out) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1.vtt", "s1_16k.vtt"]
    assert (tmp_path / "s1.vtt").read_text().endswith(S1.text + "\n")


def test_realtime_paces_the_audio(grammar_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code, out, _ = run(capsys, S1.path, "--url", grammar_server.url, "--realtime")
    elapsed = time.monotonic() - started
    assert (code, out) == (0, S1.text + "\n")
    assert elapsed >= S1.duration_ms / 1000 * 0.9


@pytest.mark.parametrize(
    ("path", "options", "fragment"),
    [
        (FORMATS / "mp3_named.wav", (), "mp3_named.wav: declared wav but the content is MP3 audio"),
        (FORMATS / "empty.wav", (), "The supplied file was empty"),
        (SPEECH / "nope.wav", (), "No such file or directory: "),
        (FORMATS / "s1.mp3", ("--format", "opus"), "declared opus but the content is MP3 audio"),
        (SPEECH / "sentences.jsgf", (), "cannot tell the audio format; pass --format"),
        (SPEECH / "s1_8k.wav", ("--model", "paraformer-realtime-8k-v2", "--sample-rate", "16000"), "accepts 8000 Hz"),
        (S1.path, ("--sample-rate", "0"), "--sample-rate must be a positive number of Hz, not 0"),
        (S1.path, ("--sample-rate", "-1"), "--sample-rate must be a positive number of Hz, not -1"),
        (FORMATS / "float.wav", ("--format", "mp3"), "declared mp3 but the content is a WAV file"),
    ],
    ids=["mp3-named-wav", "empty", "missing", "declared-opus", "unknown", "model-rate", "rate-0", "rate-neg", "fmt"],
)
def test_bad_files_fail_with_one_line(
    capsys: pytest.CaptureFixture[str], path: Path, options: tuple[str, ...], fragment: str
) -> None:
    good = [] if "--format" in options else [S1.path]  # --format applies to every file
    code, out, err = run(capsys, *good, path, *options, "--url", unused_url())
    assert code == 1 and out == "", "checked before anything is transcribed"
    assert err.count("\n") == 1 and err.startswith("funasr-realtime: error: ")
    assert fragment in err


def test_a_bad_key_fails_with_one_line(strict_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, S1.path, "--url", strict_server.url, "--api-key", "sk-not-this-one")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "HTTP 401" in err
    assert "sk-not-this-one" not in err


def test_the_right_key_works(strict_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, S1.path, "--url", strict_server.url, "--api-key", STRICT_KEY)[:2] == (0, S1.text + "\n")


def test_an_unreachable_server_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, S1.path, "--url", unused_url())
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "cannot connect" in err


def test_the_console_script_runs_as_a_program(grammar_server: ServerThread) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "funasr_realtime.cli",
            "transcribe",
            str(FORMATS / "s1.spx"),
            "--url",
            grammar_server.url,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, without_summary(0, done.stderr)) == (0, S1.text + "\n", "")
    failed = subprocess.run(
        [sys.executable, "-m", "funasr_realtime.cli", "transcribe", str(FORMATS / "empty.wav")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1


# --------------------------------------------------------------------------- everyday files (issue 11 point 5)


def test_an_alaw_wav_is_refused_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    alaw = write(tmp_path / "alaw.wav", wav_bytes(b"\0" * 100, channels=1, rate=8000, bits=8, tag=6))
    code, out, err = run(capsys, alaw, "--url", unused_url())
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert "encoding 0x0006" in err


def speech_files(directory: Path) -> dict[str, Path]:
    """S1 in the shapes users have: stereo at 44.1/48 kHz, float, 24-bit, stereo mp3/aac, m4a, flac."""
    floats = array("f", [v / 32767.0 for v in array("h", S1.pcm)]).tobytes()
    wide = bytearray(len(S1.pcm) // 2 * 3)
    wide[1::3], wide[2::3] = S1.pcm[0::2], S1.pcm[1::2]
    return {
        "stereo-44k.wav": write(directory / "stereo-44k.wav", encode(S1.pcm, "wav", rate=44100, layout="stereo")),
        "stereo-48k.wav": write(directory / "stereo-48k.wav", encode(S1.pcm, "wav", rate=48000, layout="stereo")),
        "float.wav": write(directory / "float.wav", wav_bytes(floats, channels=1, rate=16000, bits=32, tag=3)),
        "24bit.wav": write(directory / "24bit.wav", wav_bytes(bytes(wide), channels=1, rate=16000, bits=24)),
        "stereo.mp3": write(directory / "stereo.mp3", encode(S1.pcm, "mp3", rate=44100, layout="stereo")),
        "stereo.aac": write(directory / "stereo.aac", encode(S1.pcm, "aac", rate=44100, layout="stereo")),
        "talk.m4a": write(directory / "talk.m4a", encode(S1.pcm, "m4a", rate=44100, layout="stereo")),
        "talk.flac": write(directory / "talk.flac", encode(S1.pcm, "flac", rate=22050)),
    }


def test_everyday_files_transcribe_to_the_wav_text(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name, path in speech_files(tmp_path).items():
        assert run(capsys, path, "--url", grammar_server.url) == (0, S1.text + "\n", ""), name


def test_a_wav_at_another_rate_is_resampled(grammar_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    eight = SPEECH / "s1_8k.wav"
    assert run(capsys, eight, "--url", grammar_server.url) == (0, S1.text + "\n", ""), "to the model's 16 kHz"
    assert run(capsys, eight, "--url", grammar_server.url, "--sample-rate", "16000")[:2] == (0, S1.text + "\n")


def test_raw_pcm_without_a_rate_gets_a_warning_naming_it(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    raw = write(tmp_path / "speech.pcm", S1.pcm)
    code, out, err = run(capsys, raw, "--url", grammar_server.url)
    assert (code, out) == (0, S1.text + "\n")
    assert err.count("\n") == 1 and "speech.pcm: raw PCM has no header; assuming 16000 Hz" in err
    assert run(capsys, raw, "--url", grammar_server.url, "--sample-rate", "16000") == (0, S1.text + "\n", "")


def test_lost_audio_is_a_one_line_warning(capsys: pytest.CaptureFixture[str]) -> None:
    lossy = Reconnected(ConnectionClosed(1006, "gone"), attempt=1, replayed_ms=20000, dropped_ms=1500, downtime_ms=900)
    transcribe_module._report_reconnect(Path("talk.wav"), lossy)
    transcribe_module._report_reconnect(Path("talk.wav"), dataclasses.replace(lossy, dropped_ms=0))
    err = capsys.readouterr().err
    assert err.count("\n") == 1, "a lossless reconnect is not a warning"
    assert err.startswith("funasr-realtime: warning: talk.wav: 1500 ms of audio were lost")


async def finals_then_failure(ws: ServerConnection) -> None:
    """A server that gives one final per task, then fails it with a permanent error."""
    message = await read_run_task(ws)
    task_id = message["header"]["task_id"]
    await ws.send(event("task-started", task_id))
    await ws.recv()  # the first audio
    await ws.send(result(task_id, "alpha beta", final=True, begin=0, end=900))
    payload = {
        "header": {
            "task_id": task_id,
            "event": "task-failed",
            "error_code": "InvalidApiKey",
            "error_message": "key revoked",
            "attributes": {},
        },
        "payload": {},
    }
    await ws.send(json.dumps(payload))
    with contextlib.suppress(Exception):
        await ws.wait_closed()


def test_finals_that_arrived_are_printed_when_the_stream_fails_later(capsys: pytest.CaptureFixture[str]) -> None:
    with scripted_in_thread(finals_then_failure, timeout=scaled(10)) as url:
        code, out, err = run(capsys, load_speech("long").path, "--url", url)
    assert code == 1
    assert out == "alpha beta\n", "the final that arrived is written"
    assert err.count("\n") == 1 and "InvalidApiKey" in err


def test_library_warnings_stay_off_stderr_at_default_verbosity(grammar_server: ServerThread, tmp_path: Path) -> None:
    code = (
        "import logging, sys\n"
        "from funasr_realtime.cli.main import main\n"
        "real = main\n"
        "def noisy(argv):\n"
        "    from funasr_realtime.cli import transcribe\n"
        "    original = transcribe._feed\n"
        "    async def feed(*a, **k):\n"
        "        logging.getLogger('funasr_realtime.client.stream').warning('library noise')\n"
        "        await original(*a, **k)\n"
        "    transcribe._feed = feed\n"
        "    return real(argv)\n"
        "sys.exit(noisy(sys.argv[1:]))\n"
    )
    argv = [sys.executable, "-c", code, "transcribe", str(S1.path), "--url", grammar_server.url]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=scaled(60), check=False)
    assert (quiet.returncode, quiet.stdout, without_summary(0, quiet.stderr)) == (0, S1.text + "\n", "")
    loud = subprocess.run([*argv[:3], "-v", *argv[3:]], capture_output=True, text=True, timeout=scaled(60), check=False)
    assert loud.returncode == 0 and "library noise" in loud.stderr, "-v shows them"


# --------------------------------------------------------------------------- 60+ s at full speed (issue 11 point 6)


@pytest.mark.parametrize(
    ("kind", "rate", "layout", "options"),
    [
        ("pcm-wav", 16000, "mono", ()),
        ("mp3", 16000, "mono", ()),
        ("m4a", 16000, "mono", ()),
        ("wav", 44100, "stereo", ()),
        ("wav", 48000, "stereo", ()),
        ("pcm-wav", 8000, "mono", ("--model", "paraformer-realtime-v2")),
    ],
    ids=["wav", "mp3", "m4a", "stereo-44k", "stereo-48k", "8k"],
)
def test_a_minute_of_speech_at_full_speed_gives_every_sentence(
    grammar_server: ServerThread,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    kind: str,
    rate: int,
    layout: str,
    options: tuple[str, ...],
) -> None:
    source_rate = 8000 if rate == 8000 else 16000
    pcm = long_speech(source_rate)
    if kind == "pcm-wav":
        path = write(tmp_path / "long.wav", wav_bytes(pcm, channels=1, rate=source_rate, bits=16))
    else:
        suffix = "m4a" if kind == "m4a" else kind
        path = write(tmp_path / f"long.{suffix}", encode(pcm, kind, source_rate=source_rate, rate=rate, layout=layout))
    code, out, err = run(capsys, path, "--url", grammar_server.url, *options)
    assert (code, err) == (0, ""), "no reconnect, no loss, no warning"
    assert out.splitlines() == list(LONG.texts * 3)


def test_a_minute_of_speech_at_full_speed_with_the_default_engine(
    open_server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pcm = long_speech()
    path = write(tmp_path / "long.wav", wav_bytes(pcm, channels=1, rate=16000, bits=16))
    code, out, err = run(capsys, path, "--url", open_server.url, "--output", "json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert [s["text"] for s in document["sentences"]] == list(engine_sentences(pcm)), "what the engine says at any pace"
    assert len(document["task_ids"]) == 1, "one task: no reconnect"
