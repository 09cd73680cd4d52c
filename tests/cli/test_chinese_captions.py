"""``funasr-realtime transcribe`` to srt and vtt on Chinese: the local server replays recorded results.

Captions are the sentences' own text: no space appears between Chinese characters, the
spaces around Latin words stay, and a cue is cut between words on their times.
"""

# ruff: noqa: RUF001  # full-width punctuation is what Chinese text holds, on purpose

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from funasr_realtime.cli.main import main
from funasr_realtime.server.thread import ServerThread
from tests.replay import mixed_server, silence, zh_server

__all__ = ["mixed_server", "zh_server"]  # session fixtures, registered by import


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    """11 s of silence as a WAV file: the replayed fixtures supply the words."""
    path = tmp_path / "talk.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(silence(11_000))
    return path


def transcribe(capsys: pytest.CaptureFixture[str], server: ServerThread, path: Path, *options: str) -> str:
    assert main(["transcribe", str(path), "--url", server.url, "--quiet", *options]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_chinese_srt(capsys: pytest.CaptureFixture[str], zh_server: ServerThread, recording: Path) -> None:
    assert transcribe(capsys, zh_server, recording, "--output", "srt") == (
        "1\n00:00:00,240 --> 00:00:02,760\n今天天气很好，我们去公园散步吧。\n\n"
        "2\n00:00:05,800 --> 00:00:07,900\n我想买两张去北京的火车票。\n\n"
        "3\n00:00:08,800 --> 00:00:10,100\n请问几点发车？\n"
    )


def test_mixed_vtt_keeps_the_spaces_around_latin_words(
    capsys: pytest.CaptureFixture[str], mixed_server: ServerThread, recording: Path
) -> None:
    assert transcribe(capsys, mixed_server, recording, "--output", "vtt") == (
        "WEBVTT\n\n"
        "00:00:00.300 --> 00:00:03.900\n下午三点我们开个 meeting，讨论一下 Q3 的 roadmap。\n\n"
        "00:00:05.000 --> 00:00:07.000\n请打开 GitHub 上的 README 文件。\n\n"
        "00:00:08.000 --> 00:00:08.900\nOK, thank you.\n"
    )


def test_narrow_captions_are_cut_between_words_on_their_times(
    capsys: pytest.CaptureFixture[str], mixed_server: ServerThread, recording: Path
) -> None:
    out = transcribe(capsys, mixed_server, recording, "--output", "vtt", "--max-line-chars", "10")
    assert out == (
        "WEBVTT\n\n"
        "00:00:00.300 --> 00:00:02.440\n下午三点我们开个\nmeeting，讨论\n\n"
        "00:00:02.440 --> 00:00:03.900\n一下 Q3 的\nroadmap。\n\n"
        "00:00:05.000 --> 00:00:06.700\n请打开 GitHub\n上的 README\n\n"
        "00:00:06.700 --> 00:00:07.000\n文件。\n\n"
        "00:00:08.000 --> 00:00:08.900\nOK, thank\nyou.\n"
    )


def test_chinese_srt_lines_are_balanced(
    capsys: pytest.CaptureFixture[str], zh_server: ServerThread, recording: Path
) -> None:
    out = transcribe(capsys, zh_server, recording, "--output", "srt", "--max-line-chars", "10")
    assert "\n今天天气很好，我们\n去公园散步吧。\n" in out
    assert "\n我想买两张去\n北京的火车票。\n" in out
