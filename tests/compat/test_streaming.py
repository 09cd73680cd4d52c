"""``start()`` / ``send_audio_frame()`` / ``stop()`` with callbacks, as the SDK's streaming samples use them."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from http import HTTPStatus

import pytest

import funasr_realtime.compat as dashscope
from funasr_realtime import LocalProtocolError
from funasr_realtime.compat import CALLBACK_THREAD_NAME, InvalidParameter, Recognition, RecognitionResult, _loop
from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import CLIENT_TIMEOUT_S, STRICT_KEY, Recorder, unused_url
from tests.compat.fake_servers import fake_server
from tests.conftest import chunks, load_speech

S1 = load_speech("s1")
FRAME = 3200  # 100 ms of 16 kHz audio, as in the SDK samples


def recognition_for(callback: Recorder, format: str = "pcm", **options: object) -> Recognition:
    return Recognition(model="fun-asr-realtime", format=format, sample_rate=16000, callback=callback, **options)


def stream(recognition: Recognition, audio: bytes) -> None:
    for frame in chunks(audio, FRAME):
        recognition.send_audio_frame(frame)


@pytest.mark.parametrize(
    ("format", "audio"),
    [("pcm", S1.pcm), ("wav", S1.path.read_bytes())],
    ids=["pcm-like-the-mic-sample", "wav-with-header-like-the-file-sample"],
)
def test_callbacks_come_in_order_once_each_on_one_thread(local: str, format: str, audio: bytes) -> None:
    recorder = Recorder()
    recognition = recognition_for(recorder, format, semantic_punctuation_enabled=False)
    recognition.start()
    assert recorder.names == ["open"], "on_open has returned when start() returns"
    stream(recognition, audio)
    recognition.stop()

    names = recorder.names
    assert names[0] == "open" and names[-2:] == ["complete", "close"]
    assert set(names[1:-2]) == {"event"}
    [thread] = recorder.threads
    assert thread.name == CALLBACK_THREAD_NAME and thread is not threading.main_thread()
    assert recorder.max_active == 1, "callbacks never overlap"
    sentences = recorder.sentences()
    *partials, final = sentences
    assert partials, "partial results arrive before the final one"
    assert not any(RecognitionResult.is_sentence_end(s) for s in partials)
    assert all(s["end_time"] is None for s in partials)
    assert RecognitionResult.is_sentence_end(final) and final["text"] == S1.text
    assert "text" in final and final["words"]
    results = recorder.results()
    assert results[-1].get_usage(final) == {"duration": 3}
    assert results[0].get_usage(partials[0]) is None
    task_id = recognition.get_last_request_id()
    assert {r.get_request_id() for r in results} == {task_id}
    assert all(r.status_code == HTTPStatus.OK for r in results)
    assert recognition.get_first_package_delay() > 0
    assert recognition.get_last_package_delay() > 0
    assert recognition.get_response() is results[-1]


def test_results_arrive_while_the_application_pauses_sending(local: str) -> None:
    recorder = Recorder()
    recognition = recognition_for(recorder)
    recognition.start()
    stream(recognition, S1.pcm[: 32000 * 3 // 2])  # 1.5 s: "please book a..." is spoken by then
    assert recorder.first_event.wait(5), "a result came although no audio was sent meanwhile"
    assert RecognitionResult.is_sentence_end(recorder.sentences()[0]) is False
    stream(recognition, S1.pcm[32000 * 3 // 2 :])
    recognition.stop()
    assert recorder.sentences()[-1]["text"] == S1.text


def test_a_slow_callback_never_holds_up_sending(local: str) -> None:
    recorder = Recorder(event_delay=0.15)
    recognition = recognition_for(recorder)
    recognition.start()
    started = time.monotonic()
    stream(recognition, S1.pcm)
    sending = time.monotonic() - started
    recognition.stop()
    events = recorder.names.count("event")
    assert events >= 5
    assert sending < events * 0.15 / 2, "sending did not wait for the callbacks"
    assert recorder.names[-2:] == ["complete", "close"], "stop() waited for the queued callbacks"
    assert recorder.max_active == 1


def test_each_start_uses_a_new_task_id(local: str) -> None:
    recognition = recognition_for(Recorder())
    ids = []
    for _ in range(2):
        recognition.start()
        stream(recognition, S1.pcm[:16000])
        recognition.stop()
        ids.append(recognition.get_last_request_id())
    assert ids[0] != ids[1]


def test_misuse_raises_the_sdks_errors(local: str) -> None:
    recognition = recognition_for(Recorder())
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has stopped\.$"):
        recognition.send_audio_frame(b"\0" * FRAME)
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has stopped\.$"):
        recognition.stop()
    recognition.start()
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has started\.$"):
        recognition.start()
    recognition.stop()
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has stopped\.$"):
        recognition.stop()
    assert issubclass(InvalidParameter, ValueError)


def test_start_needs_a_callback(local: str) -> None:
    with pytest.raises(InvalidParameter, match="callback"):
        Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=None).start()


def test_a_task_failed_mid_stream_is_reported_once_with_the_servers_code(
    settings: pytest.MonkeyPatch, strict_server: ServerThread
) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", strict_server.url)
    settings.setattr(dashscope, "api_key", STRICT_KEY)
    recorder = Recorder()
    recognition = recognition_for(recorder)
    recognition.start()
    stream(recognition, S1.pcm[:8000])
    assert recorder.closed.wait(CLIENT_TIMEOUT_S + 5), "the server's timeout ends the task"
    assert recorder.names[0] == "open" and recorder.names[-2:] == ["error", "close"]
    assert recorder.names.count("error") == 1 and "complete" not in recorder.names
    [error] = recorder.results("error")
    assert (error.status_code, error.code) == (408, "CLIENT_ERROR")
    assert error.message == f"request timeout after {CLIENT_TIMEOUT_S:g} seconds."
    assert error.request_id == recognition.get_last_request_id() != ""
    assert recognition.get_response() is error
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has stopped\. \(CLIENT_ERROR"):
        recognition.send_audio_frame(b"\0" * FRAME)
    with pytest.raises(InvalidParameter, match="Speech recognition has stopped"):
        recognition.stop()
    time.sleep(0.1)
    assert recorder.names.count("close") == 1


def test_a_task_that_cannot_start_reports_error_and_close(
    settings: pytest.MonkeyPatch, strict_server: ServerThread
) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", strict_server.url)
    settings.setattr(dashscope, "api_key", "sk-wrong")
    recorder = Recorder()
    recognition = recognition_for(recorder)
    recognition.start()  # reports, does not raise, as the SDK
    assert recorder.names == ["error", "close"]
    [error] = recorder.results("error")
    assert (error.status_code, error.code) == (401, "InvalidApiKey")
    with pytest.raises(InvalidParameter, match="InvalidApiKey"):
        recognition.send_audio_frame(b"\0" * FRAME)


def test_an_unreachable_server_reports_503(settings: pytest.MonkeyPatch) -> None:
    settings.setattr(dashscope, "base_websocket_api_url", unused_url())
    recorder = Recorder()
    recognition_for(recorder).start()
    assert recorder.names == ["error", "close"]
    assert recorder.results("error")[0].status_code == 503


def test_a_run_task_rejection_carries_the_task_id(local: str) -> None:
    recorder = Recorder()
    recognition = Recognition(model="no-such-model", format="pcm", sample_rate=16000, callback=recorder)
    recognition.start()
    [error] = recorder.results("error")
    assert (error.status_code, error.code) == (404, "ModelNotFound")
    assert error.request_id and error.request_id == recognition.get_last_request_id()


def test_undecodable_audio_fails_at_stop_with_no_valid_audio(local: str) -> None:
    recorder = Recorder()
    recognition = recognition_for(recorder, format="mp3")
    recognition.start()
    recognition.send_audio_frame(bytes(range(256)) * 16)  # not MP3
    recognition.stop()
    assert recorder.names == ["open", "error", "close"]
    [error] = recorder.results("error")
    assert (error.status_code, error.code) == (400, "NO_VALID_AUDIO_ERROR")
    assert "mp3" in error.message


def test_a_close_mid_task_reports_the_close_code_and_reason(settings: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    with fake_server("close-1011") as url:
        settings.setattr(dashscope, "base_websocket_api_url", url)
        recognition = recognition_for(recorder)
        recognition.start()
        recognition.send_audio_frame(b"\0" * FRAME)
        assert recorder.closed.wait(5)
    [error] = recorder.results("error")
    assert (error.status_code, error.code) == (502, "ConnectionClosed")
    assert "1011" in error.message and "engine crashed" in error.message
    assert recorder.names == ["open", "error", "close"]


def test_stop_is_bounded_when_the_server_never_finishes(settings: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    with fake_server("never-finish") as url:
        settings.setattr(dashscope, "base_websocket_api_url", url)
        recognition = recognition_for(recorder)
        recognition.start()
        recognition.send_audio_frame(b"\0" * FRAME)
        started = time.monotonic()
        recognition.stop(timeout=0.3)
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    assert recorder.names == ["open", "error", "close"]
    [error] = recorder.results("error")
    assert (error.status_code, error.code) == (504, "Timeout")
    assert "task-finished" in error.message


def test_a_raising_callback_is_logged_and_delivery_goes_on(local: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="funasr_realtime.compat")

    class Faulty(Recorder):
        def on_event(self, result: RecognitionResult) -> None:
            super().on_event(result)
            raise RuntimeError("bug in the application")

        def on_complete(self) -> None:
            super().on_complete()
            sys.exit(0)  # the SDK file sample does this in on_error: ends the callback only

    recorder = Faulty()
    recognition = recognition_for(recorder)
    recognition.start()
    stream(recognition, S1.pcm)
    recognition.stop()
    assert recorder.names[-2:] == ["complete", "close"]
    assert "bug in the application" in caplog.text
    assert "sys.exit" in caplog.text


def test_stop_from_a_signal_handler_while_sending(local: str) -> None:
    """The SDK microphone sample stops from its Ctrl+C handler, interrupting the send loop."""

    class Stopped(Exception):
        pass

    recorder = Recorder()
    recognition = recognition_for(recorder)

    def handler(signum: int, frame: object) -> None:
        recognition.stop()
        raise Stopped

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        recognition.start()
        with pytest.raises(Stopped):
            for n, frame in enumerate(chunks(S1.pcm, FRAME)):
                recognition.send_audio_frame(frame)
                if n == len(S1.pcm) // FRAME - 2:
                    os.kill(os.getpid(), signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert recorder.names[-2:] == ["complete", "close"]
    assert recorder.sentences()[-1]["text"] == S1.text


def test_stop_inside_a_callback_does_not_deadlock(local: str) -> None:
    class StopOnFirstEvent(Recorder):
        def on_event(self, result: RecognitionResult) -> None:
            super().on_event(result)
            if self.names.count("event") == 1:
                recognition.stop()

    recorder = StopOnFirstEvent()
    recognition = recognition_for(recorder)
    recognition.start()
    with pytest.raises(InvalidParameter):  # the callback stopped the task midway
        for frame in chunks(S1.pcm * 4, FRAME):
            recognition.send_audio_frame(frame)
            time.sleep(0.01)  # ten times faster than real time: results come in meanwhile
    assert recorder.closed.wait(5)
    assert recorder.names[-2:] == ["complete", "close"]


def test_update_context_and_context_manager(local: str) -> None:
    recorder = Recorder()
    with recognition_for(recorder) as recognition:
        recognition.start()
        recognition.update_context({"context": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]})
        with pytest.raises(InvalidParameter, match="Context is required"):
            recognition.update_context(None)  # type: ignore[arg-type]
        stream(recognition, S1.pcm)
    assert recorder.names[-2:] == ["complete", "close"], "leaving the block stopped the task"


def test_the_default_on_error_logs(local: str, caplog: pytest.LogCaptureFixture) -> None:
    from funasr_realtime.compat import RecognitionCallback

    caplog.set_level(logging.WARNING)
    recognition = Recognition(model="no-such-model", format="pcm", sample_rate=16000, callback=RecognitionCallback())
    recognition.start()
    assert "ModelNotFound" in caplog.text


def test_streaming_calls_during_a_call_are_refused(local: str) -> None:
    long = load_speech("long")
    recognition = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=Recorder())
    results: list[RecognitionResult] = []
    worker = threading.Thread(target=lambda: results.append(recognition.call(long.path)))
    worker.start()
    deadline = time.monotonic() + 5
    while not recognition.get_last_request_id() and time.monotonic() < deadline:
        time.sleep(0.01)  # until the call's task has started
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has been called\.$"):
        recognition.send_audio_frame(b"\0" * FRAME)
    with pytest.raises(InvalidParameter, match=r"^Speech recognition has been called\.$"):
        recognition.stop()
    worker.join(30)
    assert [s["text"] for s in results[0].get_sentence()] == list(long.texts)


def test_a_send_that_loses_the_race_with_stop_leaves_the_task_intact(local: str) -> None:
    recorder = Recorder()
    recognition = recognition_for(recorder)
    recognition.start()
    stream(recognition, S1.pcm)
    session = recognition._session
    assert session is not None
    finishing = _loop.submit(session.finish(10))  # what stop() does on the loop...
    late = _loop.submit(session.send(b"\0" * FRAME))  # ...and a frame from another thread, just after
    with pytest.raises(LocalProtocolError, match="finishing"):
        late.result(5)
    finishing.result(10)
    recognition.stop()
    assert recorder.names[-2:] == ["complete", "close"] and "error" not in recorder.names
    assert recorder.sentences()[-1]["text"] == S1.text
