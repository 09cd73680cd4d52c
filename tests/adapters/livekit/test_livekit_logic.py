"""The LiveKit plugin's logic inside LiveKit's own stream machinery, on the in-memory transport.

Audio goes in as rtc.AudioFrames through ``stt.stream()`` and ``recognize()``, and every
assertion is on the SpeechEvents LiveKit would hand to the agent, as in
``test_livekit_stream.py``; but the plugin runs on ``transport=`` a
:class:`~funasr_realtime.testing.MockTransport`: a scripted Fun-ASR
(``tests.adapters.fake_asr``), or the local server's own task handling in memory. No socket
is opened (the ``no_network`` fixture fails the test otherwise), and audio is pushed as fast
as LiveKit takes it. What needs real recognition or a real network fault stays on the
loopback server.
"""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import APIConnectOptions, APIStatusError, stt
from livekit.agents.metrics import STTMetrics
from livekit.plugins import funasr_realtime

from funasr_realtime.testing import MockTransport
from tests.adapters.fake_asr import FakeFunAsr
from tests.conftest import load_speech

from .helpers import Recorder, finals, frames, has_final, kinds, push, silence, stream_mid_utterance

pytestmark = pytest.mark.usefixtures("no_network")

QUICK_RETRIES = APIConnectOptions(max_retry=3, retry_interval=0.1, timeout=5)
NO_RETRY = APIConnectOptions(max_retry=0)


async def test_framework_endpointing_never_ends_the_turn_per_sentence() -> None:
    """Two sentences with a 1.5 s pause: Fun-ASR ends a sentence in the pause, but the turn
    ends only at the framework's flush (the LiveKit Aliyun plugins end it per sentence)."""
    long = load_speech("long")
    two_sentences = long.pcm[: 7_300 * 32]  # the first two sentences and the pause after them
    fake = FakeFunAsr(long.texts[:2])
    plugin = funasr_realtime.STT(transport=fake.transport, max_sentence_silence=500)
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, frames(two_sentences, 16000), pace=0)
    await recorder.wait_for(has_final(2))
    assert kinds(recorder.events) == ["start", "interim", "final", "interim", "final"]
    stream.flush()
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()
    assert kinds(events) == ["start", "interim", "final", "interim", "final", "end", "usage"]
    assert [f.text for f in finals(events)] == list(long.texts[:2])
    assert [task.said for task in fake.tasks] == [list(long.texts[:2])], "one task until the flush"


async def test_server_endpointing_ends_the_turn_at_each_sentence() -> None:
    long = load_speech("long")
    two_sentences = long.pcm[: 7_300 * 32]
    fake = FakeFunAsr(long.texts[:2])
    plugin = funasr_realtime.STT(transport=fake.transport, max_sentence_silence=500, endpointing="server")
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, frames(two_sentences, 16000), pace=0)
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()
    assert kinds(events) == ["start", "interim", "final", "end", "start", "interim", "final", "end", "usage"]
    assert [f.text for f in finals(events)] == list(long.texts[:2])


async def test_update_options_mid_stream_applies_from_the_next_task() -> None:
    """A segmentation change made during an utterance leaves that task alone (Fun-ASR waits
    for the flush) and applies to the next one (Fun-ASR ends the sentence in the pause)."""
    first, second = load_speech("s1"), load_speech("s2")
    fake = FakeFunAsr([first.text, second.text])
    plugin = funasr_realtime.STT(transport=fake.transport, max_sentence_silence=6000)
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, frames(first.pcm + silence(1500, 16000), 16000), pace=0)
    stream.update_options(max_sentence_silence=500, language="en-US")
    await asyncio.sleep(0.2)  # the fake has long heard the pause: 6000 ms still applies
    assert finals(recorder.events) == [], "the running task kept max_sentence_silence=6000"
    stream.flush()
    await recorder.wait_for(has_final(1))

    await push(stream, frames(second.pcm + silence(1500, 16000), 16000), pace=0)
    await recorder.wait_for(has_final(2))  # no flush: the new task ends sentences after 500 ms
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()
    one, two = finals(events)
    assert (one.text, two.text) == (first.text, second.text), "no audio lost around the change"
    assert two.language == "en-US"
    old, new = fake.tasks[:2]
    assert (old.parameters["max_sentence_silence"], "language_hints" in old.parameters) == (6000, False)
    assert (new.parameters["max_sentence_silence"], new.parameters["language_hints"]) == (500, ["en"])
    assert old.audio_bytes == len(first.pcm) + len(silence(1500, 16000)), "the flush ended the first task"


async def test_permanent_task_failure_carries_the_task_id() -> None:
    """The local server's task handling (in memory) answers an unknown model with task-failed
    ModelNotFound: not retried, status 404, request_id = the Fun-ASR task id."""
    mock = MockTransport()
    plugin = funasr_realtime.STT(transport=mock, model="fun-asr-no-such-model")
    errors: list[stt.STTError] = []
    plugin.on("error", errors.append)
    stream = plugin.stream(conn_options=QUICK_RETRIES)
    for frame in frames(load_speech("s1").pcm, 16000)[:10]:
        stream.push_frame(frame)
    with pytest.raises(APIStatusError) as caught:
        async for _ in stream:
            pass
    await plugin.aclose()
    assert caught.value.status_code == 404 and not caught.value.retryable
    assert caught.value.request_id and len(caught.value.request_id) == 32
    assert caught.value.body == {
        "error_code": "ModelNotFound",
        "error_message": "Model not found: 'fun-asr-no-such-model'",
    }
    assert [e.recoverable for e in errors] == [False]
    [run] = mock.run_tasks
    assert caught.value.request_id == run.task_id, "not retried"


async def test_prewarm_hands_its_connection_to_the_first_stream() -> None:
    speech = load_speech("s3")
    fake = FakeFunAsr([speech.text])
    plugin = funasr_realtime.STT(transport=fake.transport)
    metrics: list[STTMetrics] = []
    plugin.on("metrics_collected", metrics.append)
    plugin.prewarm()
    await asyncio.sleep(0.1)
    assert len(fake.transport.connections) == 1, "prewarm() connected before any stream exists"
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, frames(speech.pcm, 16000), pace=0)
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()
    assert [f.text for f in finals(events)] == [speech.text]
    [acquired] = [m for m in metrics if m.acquire_time > 0]
    assert acquired.connection_reused and acquired.acquire_time < 0.05
    assert fake.tasks[0].connection == 0, "the task ran on the pre-warmed connection"


async def test_aclose_aborts_without_waiting_for_results() -> None:
    fake = FakeFunAsr([load_speech("s1").text])
    plugin, stream, recorder = await stream_mid_utterance(transport=fake.transport, pace=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stream.aclose()
    assert loop.time() - started < 0.5
    events = await recorder.finish(timeout=2)
    await plugin.aclose()
    assert finals(events) == []
    with pytest.raises(RuntimeError, match="input ended"):
        stream.push_frame(frames(load_speech("s1").pcm, 16000)[0])


async def test_recognize_with_a_language_and_an_empty_buffer() -> None:
    speech = load_speech("s4")
    fake = FakeFunAsr([speech.text])
    plugin = funasr_realtime.STT(transport=fake.transport)
    event = await plugin.recognize(frames(speech.pcm, 16000), language="en-GB", conn_options=NO_RETRY)
    assert event.alternatives[0].text == speech.text
    assert event.alternatives[0].language == "en-GB"
    empty = await plugin.recognize([], conn_options=NO_RETRY)
    await plugin.aclose()
    assert empty.alternatives[0].text == ""
    assert fake.tasks[0].parameters["language_hints"] == ["en"], "the per-call language reached Fun-ASR"
    assert fake.errors == []
