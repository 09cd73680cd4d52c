"""``funasr-realtime transcribe`` end to end against the local server, on the speech fixtures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from funasr_realtime.cli.main import main
from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import STRICT_KEY, unused_url
from tests.conftest import SPEECH, load_speech

FORMATS = SPEECH / "formats"
S1 = load_speech("s1")
S2 = load_speech("s2")


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["transcribe", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


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
        (FORMATS / "float.wav", (), "IEEE float samples; the service needs 16-bit PCM"),
        (FORMATS / "stereo.wav", (), "WAV has 2 channels"),
        (SPEECH / "s1_8k.wav", ("--sample-rate", "16000"), "WAV is 8000 Hz but sample_rate is 16000"),
        (FORMATS / "empty.wav", (), "The supplied file was empty"),
        (SPEECH / "nope.wav", (), "No such file or directory: "),
        (FORMATS / "s1.mp3", ("--format", "opus"), "declared opus but the content is MP3 audio"),
        (SPEECH / "sentences.jsgf", (), "cannot tell the audio format; pass --format"),
        (SPEECH / "s1_8k.wav", (), "fun-asr-realtime accepts 16000 Hz audio, not 8000 Hz"),
    ],
    ids=["mp3-named-wav", "float", "stereo", "rate", "empty", "missing", "declared-opus", "unknown", "model-rate"],
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
    assert (done.returncode, done.stdout, done.stderr) == (0, S1.text + "\n", "")
    failed = subprocess.run(
        [sys.executable, "-m", "funasr_realtime.cli", "transcribe", str(FORMATS / "empty.wav")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
