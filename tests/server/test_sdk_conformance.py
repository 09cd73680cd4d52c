"""The official ``dashscope`` SDK against the local server, with only its base URL changed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import dashscope
import pytest
from dashscope.audio.asr import Recognition, RecognitionCallback, RecognitionResult
from pydantic import SecretStr
from tests.conftest import GRAMMAR, SPEECH, chunks, load_speech

from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread

pytestmark = pytest.mark.timeout(60)

LOCAL_KEY = "sk-local"


@pytest.fixture
def sdk(grammar_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> ServerThread:
    """Point the SDK at the grammar server; monkeypatch restores its globals afterwards."""
    monkeypatch.setattr(dashscope, "base_websocket_api_url", grammar_server.url)
    monkeypatch.setattr(dashscope, "api_key", "any")
    return grammar_server


@pytest.fixture(scope="module")
def key_server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr(LOCAL_KEY))) as server:
        yield server


class Recorder(RecognitionCallback):
    """Records every callback with the SDK's view of each result."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sentences: list[dict[str, Any]] = []
        self.usages: list[dict[str, Any] | None] = []
        self.errors: list[RecognitionResult] = []

    def on_open(self) -> None:
        self.calls.append("open")

    def on_event(self, result: RecognitionResult) -> None:
        self.calls.append("event")
        sentence = result.get_sentence()
        self.sentences.append(sentence)
        self.usages.append(result.get_usage(sentence))

    def on_complete(self) -> None:
        self.calls.append("complete")

    def on_error(self, result: RecognitionResult) -> None:
        self.calls.append("error")
        self.errors.append(result)

    def on_close(self) -> None:
        self.calls.append("close")

    def finals(self) -> list[dict[str, Any]]:
        return [s for s in self.sentences if RecognitionResult.is_sentence_end(s)]


def stream_with_sdk(model: str, sample_rate: int, pcm: bytes, frame: int) -> Recorder:
    recorder = Recorder()
    recognition = Recognition(model=model, format="pcm", sample_rate=sample_rate, callback=recorder)
    recognition.start()
    for chunk in chunks(pcm, frame):
        recognition.send_audio_frame(chunk)
    recognition.stop()
    return recorder


# --------------------------------------------------------------------------- call()


def test_call_wav_file(sdk: ServerThread) -> None:
    s1 = load_speech("s1")
    result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None).call(str(s1.path))
    assert result.status_code == 200
    sentences = result.get_sentence()
    assert isinstance(sentences, list)
    assert " ".join(s["text"] for s in sentences) == s1.text
    assert all(RecognitionResult.is_sentence_end(s) for s in sentences)
    assert result.usage is not None
    assert result.usage["duration"] == 3


def test_call_long_file_gives_six_sentences_in_order(sdk: ServerThread) -> None:
    long = load_speech("long")
    result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None).call(str(long.path))
    assert result.status_code == 200
    sentences = result.get_sentence()
    assert [s["text"] for s in sentences] == list(long.texts)
    begins = [s["begin_time"] for s in sentences]
    assert begins == sorted(begins)


def test_call_8k_wav(sdk: ServerThread) -> None:
    s3 = load_speech("s3", 8000)
    result = Recognition(model="paraformer-realtime-8k-v2", format="wav", sample_rate=8000, callback=None).call(
        str(s3.path)
    )
    assert result.status_code == 200
    assert [s["text"] for s in result.get_sentence()] == [s3.text]


def test_call_surfaces_task_failed(sdk: ServerThread) -> None:
    result = Recognition(model="no-such-model", format="wav", sample_rate=16000, callback=None).call(
        str(SPEECH / "s1_16k.wav")
    )
    assert result.status_code != 200
    assert result.code == "ModelNotFound"
    assert "no-such-model" in result.message


# --------------------------------------------------------------------------- streaming


def test_streaming_callbacks(sdk: ServerThread) -> None:
    s1 = load_speech("s1")
    recorder = stream_with_sdk("fun-asr-realtime", 16000, s1.pcm, 3200)
    assert recorder.errors == []
    assert recorder.calls[0] == "open"
    assert recorder.calls[-1] == "close"
    assert recorder.calls.count("complete") == 1
    assert recorder.calls.count("close") == 1
    assert recorder.calls.index("complete") > max(i for i, c in enumerate(recorder.calls) if c == "event")

    first_final = next(i for i, s in enumerate(recorder.sentences) if RecognitionResult.is_sentence_end(s))
    assert first_final > 0, "expected partial results before the final"
    for sentence, usage in zip(recorder.sentences[:first_final], recorder.usages[:first_final], strict=True):
        assert sentence["end_time"] is None
        assert sentence["sentence_end"] is False
        assert usage is None
    assert [s["text"] for s in recorder.finals()] == [s1.text]
    final_usage = recorder.usages[first_final]
    assert final_usage is not None
    assert final_usage["duration"] >= 1
    # Heartbeats never reach on_event, and every sentence the SDK sees has the usual fields.
    for sentence in recorder.sentences:
        assert {"begin_time", "end_time", "text", "words", "sentence_end"} <= set(sentence)


def test_streaming_long_recording(sdk: ServerThread) -> None:
    long = load_speech("long")
    recorder = stream_with_sdk("fun-asr-realtime", 16000, long.pcm, 3200)
    assert recorder.errors == []
    assert [s["text"] for s in recorder.finals()] == list(long.texts)
    assert recorder.calls.count("complete") == 1


def test_streaming_8k(sdk: ServerThread) -> None:
    s2 = load_speech("s2", 8000)
    recorder = stream_with_sdk("fun-asr-flash-8k-realtime", 8000, s2.pcm, 1600)
    assert recorder.errors == []
    assert [s["text"] for s in recorder.finals()] == [s2.text]
    assert recorder.calls.count("complete") == 1


def test_streaming_with_heartbeat_on_silence(sdk: ServerThread) -> None:
    """heartbeat=true: the server's heartbeat results are dropped by the SDK, nothing breaks."""
    recorder = Recorder()
    recognition = Recognition(
        model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=recorder, heartbeat=True
    )
    recognition.start()
    for chunk in chunks(b"\x00" * (5 * 32000), 3200):
        recognition.send_audio_frame(chunk)
    recognition.stop()
    assert recorder.errors == []
    assert recorder.sentences == []
    assert recorder.calls.count("complete") == 1


# --------------------------------------------------------------------------- authentication


def test_right_key_is_accepted(key_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashscope, "base_websocket_api_url", key_server.url)
    monkeypatch.setattr(dashscope, "api_key", LOCAL_KEY)
    s4 = load_speech("s4")
    result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None).call(str(s4.path))
    assert result.status_code == 200
    assert [s["text"] for s in result.get_sentence()] == [s4.text]


def test_wrong_key_gets_401(key_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashscope, "base_websocket_api_url", key_server.url)
    monkeypatch.setattr(dashscope, "api_key", "sk-wrong")
    result = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None).call(
        str(SPEECH / "s4_16k.wav")
    )
    assert result.status_code == 401
    assert result.get_sentence() is None or result.get_sentence() == []


def test_wrong_key_streaming_reports_on_error(key_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashscope, "base_websocket_api_url", key_server.url)
    monkeypatch.setattr(dashscope, "api_key", "sk-wrong")
    recorder = Recorder()
    recognition = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=recorder)
    recognition.start()
    try:
        for _ in range(100):  # the SDK reports the handshake failure from its worker thread
            if recorder.errors:
                break
            time.sleep(0.05)
    finally:
        # After an error stop() refuses to run, so the SDK's 23 s silence timer (a
        # non-daemon thread) would keep the test process alive: cancel it here.
        timer = getattr(recognition, "_silence_timer", None)
        if timer is not None:
            timer.cancel()
    assert recorder.errors
    assert recorder.errors[0].status_code == 401
