"""The SDK-compatible ``Recognition`` on Chinese: the local server replays recorded Fun-ASR results."""

# ruff: noqa: RUF001  # full-width punctuation is what Chinese text holds, on purpose

from __future__ import annotations

import wave
from http import HTTPStatus
from pathlib import Path

import pytest

import funasr_realtime.compat as dashscope
from funasr_realtime.compat import Recognition, RecognitionResult
from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import Recorder
from tests.replay import MIXED_FINALS, ZH, ZH_FINALS, frames, mixed_server, silence, zh_server

__all__ = ["mixed_server", "zh_server"]  # session fixtures, registered by import


def test_streaming_callbacks_get_chinese_sentences_words_and_usage(
    settings: pytest.MonkeyPatch, zh_server: ServerThread
) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", zh_server.url)
    recorder = Recorder()
    recognition = Recognition(
        model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=recorder, language_hints=["zh"]
    )
    recognition.start(heartbeat=True)
    for frame in frames(ZH.duration_ms):
        recognition.send_audio_frame(frame)
    recognition.stop()

    assert recorder.names[0] == "open" and recorder.names[-2:] == ["complete", "close"]
    sentences = recorder.sentences()
    finals = [s for s in sentences if RecognitionResult.is_sentence_end(s)]
    assert [s["text"] for s in finals] == ZH_FINALS
    assert finals[0]["words"][3] == {"begin_time": 1060, "end_time": 1340, "text": "好", "punctuation": "，"}
    assert "我想买两张去背景" in [s["text"] for s in sentences], "partial revisions reach on_event"
    assert not any(s.get("heartbeat") for s in sentences), "heartbeats do not"
    results = recorder.results()
    assert [r.get_usage(s) for r, s in zip(results, sentences, strict=True) if s in finals] == [
        {"duration": 4},
        {"duration": 9},
        {"duration": 11},
    ]


def test_call_returns_the_mixed_sentences_as_sent(
    settings: pytest.MonkeyPatch, mixed_server: ServerThread, tmp_path: Path
) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", mixed_server.url)
    path = tmp_path / "meeting.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(silence(9600))
    result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None).call(str(path))

    assert result.status_code == HTTPStatus.OK, result.message
    sentences = result.get_sentence()
    assert isinstance(sentences, list)
    assert [s["text"] for s in sentences] == MIXED_FINALS
    assert [(w["text"], w["punctuation"]) for w in sentences[0]["words"][5:8]] == [
        ("个", ""),
        ("meeting", "，"),
        ("讨论", ""),
    ]
    assert [result.get_usage(s) for s in sentences] == [{"duration": 5}, {"duration": 8}, {"duration": 10}]
