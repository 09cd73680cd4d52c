"""``funasr-realtime mic`` with the file-backed stand-in device, and without any audio input."""

from __future__ import annotations

import sys
import time
import wave
from pathlib import Path

import pytest

from funasr_realtime.cli.main import main
from funasr_realtime.cli.microphone import MIC_FILE_ENV, FileMicrophone, MicrophoneUnavailable, open_microphone
from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import unused_url
from tests.conftest import SPEECH, load_speech

S2 = load_speech("s2")


@pytest.fixture
def no_audio_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without sounddevice and PyAudio: importing either fails."""
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    monkeypatch.setitem(sys.modules, "pyaudio", None)
    monkeypatch.delenv(MIC_FILE_ENV, raising=False)


def test_mic_streams_the_stand_in_and_prints_each_sentence(
    grammar_server: ServerThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIC_FILE_ENV, str(S2.path))
    started = time.monotonic()
    code = main(["mic", "--url", grammar_server.url])
    out, err = capsys.readouterr()
    assert (code, out) == (0, S2.text + "\n")
    assert "listening on file s2_16k.wav" in err
    assert time.monotonic() - started >= S2.duration_ms / 1000 * 0.9, "a microphone runs in real time"


def test_mic_without_an_input_says_so(no_audio_library: None, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["mic", "--url", unused_url()])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1
    assert "no microphone available" in err
    assert "sounddevice is not installed" in err and "pyaudio is not installed" in err
    assert "pip install sounddevice" in err and MIC_FILE_ENV in err


def test_the_stand_in_delivers_100_ms_frames_in_real_time() -> None:
    with FileMicrophone(str(S2.path), 16000, 1600) as microphone:
        started = time.monotonic()
        frames = [microphone.read() for _ in range(3)]
        elapsed = time.monotonic() - started
    assert [len(f) for f in frames] == [3200, 3200, 3200]
    assert b"".join(frames) == S2.pcm[:9600]
    assert 0.25 <= elapsed < 1.0


def test_the_stand_in_ends_with_empty_reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    with wave.open(str(short), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\1\0" * 800)
    monkeypatch.setenv(MIC_FILE_ENV, str(short))
    with open_microphone(16000) as microphone:
        assert microphone.read() == b"\1\0" * 800
        assert microphone.read() == b""


@pytest.mark.parametrize(
    ("path", "fragment"),
    [(SPEECH / "s2_8k.wav", "need 16-bit mono at 16000 Hz"), (SPEECH / "sentences.jsgf", "cannot read it as WAV")],
)
def test_a_stand_in_that_does_not_fit_is_refused(monkeypatch: pytest.MonkeyPatch, path: Path, fragment: str) -> None:
    monkeypatch.setenv(MIC_FILE_ENV, str(path))
    with pytest.raises(MicrophoneUnavailable, match=fragment):
        open_microphone(16000)
