"""The plugin's ``transport=`` option: an agent's STT served in memory, with no socket and no key.

A scripted server (a :class:`~funasr_realtime.testing.MockTransport` handler) sees what the
plugin sends, and what it answers reaches LiveKit as it would from Fun-ASR: a final as a
FINAL_TRANSCRIPT with its text, seconds and word times, a task-failed code as the
``APIStatusError`` of its status (retryable or not, so LiveKit retries or not), a reconnect
that lost audio as a recoverable ``AudioLost`` error event. The ``no_network`` fixture fails
a test that opens a connection.
"""

from __future__ import annotations

import pytest
from livekit.agents import APIConnectOptions, APIError, APIStatusError, stt
from livekit.agents.types import TimedString
from livekit.plugins import funasr_realtime

import funasr_realtime as fr
from funasr_realtime.protocol import Sentence, Usage, Word
from funasr_realtime.testing import MockConnection, MockTransport
from tests.adapters.fake_asr import FakeFunAsr
from tests.conftest import load_speech

from .helpers import Recorder, finals, frames, kinds, push, speech_at

pytestmark = pytest.mark.usefixtures("no_network")

WORDS = (("hello", 120, 400), ("from", 400, 600), ("memory", 600, 900))


async def one_final(server: MockConnection) -> None:
    """Each task: all its audio, then one final ("hello from memory", 120-900 ms with word
    times, 2 s billed) and task-finished."""
    while True:
        await server.run_task()
        await server.start_task()
        await server.audio_until_finish()
        words = tuple(Word(begin_time=b, end_time=e, text=t) for t, b, e in WORDS)
        sentence = Sentence(
            begin_time=120, end_time=900, text="hello from memory", words=words, sentence_end=True, sentence_id=1
        )
        await server.send_result(sentence, Usage(duration=2))
        await server.finish_task()


def test_a_plugin_with_a_transport_needs_no_key_or_url() -> None:
    assert funasr_realtime.STT(transport=MockTransport(one_final)).model == "fun-asr-realtime"
    with pytest.raises(ValueError, match="no API key"):
        funasr_realtime.STT()  # without one, the cloud endpoint needs a key


@pytest.mark.parametrize("rate", [48000, 16000])
async def test_a_scripted_final_reaches_livekit_as_a_final_transcript_with_its_text_and_times(rate: int) -> None:
    mock = MockTransport(one_final)
    plugin = funasr_realtime.STT(transport=mock, language="zh-CN")
    stream = plugin.stream()
    stream.start_time_offset = 5.0
    recorder = Recorder(stream)
    await push(stream, frames(speech_at("s1", rate), rate), pace=0)
    stream.flush()
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()

    assert kinds(events) == ["start", "final", "end", "usage"]
    [data] = finals(events)
    assert (data.text, data.language) == ("hello from memory", "zh-CN")
    assert (data.start_time, data.end_time) == pytest.approx((5.12, 5.9)), "stream seconds + start_time_offset"
    assert data.words is not None
    assert [str(w) for w in data.words] == [t for t, _, _ in WORDS]
    times = [t for w in data.words for t in (w.start_time, w.end_time)]
    assert times == pytest.approx([5 + ms / 1000 for _, b, e in WORDS for ms in (b, e)]), "word times too"
    assert all(isinstance(w, TimedString) and w.start_time_offset == pytest.approx(5.0) for w in data.words)
    usage = [e.recognition_usage for e in events if e.type == stt.SpeechEventType.RECOGNITION_USAGE]
    assert [u.audio_duration for u in usage if u is not None] == [2.0], "the billed seconds"

    [run] = mock.run_tasks
    [final_event] = [e for e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert final_event.request_id == run.task_id
    assert run.model == "fun-asr-realtime"
    assert (run.parameters["sample_rate"], run.parameters["format"]) == (16000, "pcm"), "LiveKit resampled to 16 kHz"
    assert run.parameters["language_hints"] == ["zh"]
    heard = sum(connection.audio_bytes for connection in mock.connections)
    assert abs(heard - len(load_speech("s1").pcm)) <= 32 * 20, "all of it, at 16 kHz (within a frame)"
    assert mock.errors == []


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("InvalidApiKey", 401, False),
        ("InvalidParameter", 400, False),
        ("InternalError", 500, True),  # (throttling is retried by the core on its own, slower clock)
    ],
)
async def test_a_scripted_task_failure_reaches_livekit_as_an_api_status_error(
    code: str, status: int, retryable: bool
) -> None:
    async def fails(server: MockConnection) -> None:
        await server.run_task()
        await server.fail_task(code, f"scripted {code}")

    mock = MockTransport(fails)
    no_core_retry = fr.Resilience(max_retries=0, standby=False)  # LiveKit's own retry is the one under test
    plugin = funasr_realtime.STT(transport=mock, resilience=no_core_retry)
    errors: list[stt.STTError] = []
    plugin.on("error", errors.append)
    stream = plugin.stream(conn_options=APIConnectOptions(max_retry=1, retry_interval=0.01, timeout=5))
    for frame in frames(load_speech("s1").pcm, 16000)[:10]:
        stream.push_frame(frame)
    with pytest.raises(APIError) as caught:
        async for _ in stream:
            pass
    await plugin.aclose()

    # LiveKit raises the plugin's error itself, or (its retries spent) an APIConnectionError from it.
    error = caught.value.__cause__ if retryable else caught.value
    assert isinstance(error, APIStatusError)
    assert (error.status_code, error.retryable) == (status, retryable)
    assert [(type(e.error), getattr(e.error, "status_code", None)) for e in errors] == [(APIStatusError, status)] * len(
        errors
    ), "each attempt's error event carries it too"
    assert error.body == {"error_code": code, "error_message": f"scripted {code}"}
    assert error.request_id == mock.run_tasks[-1].task_id
    assert [e.recoverable for e in errors] == ([True, False] if retryable else [False]), "LiveKit retried or not"
    assert len(mock.run_tasks) == (2 if retryable else 1)


@pytest.mark.parametrize("replay_seconds", [10.0, 0.3])
async def test_a_reconnect_is_silent_unless_audio_was_lost(replay_seconds: float) -> None:
    """A reset 1.5 s into a sentence: the default replay buffer covers it (no error event);
    a 0.3 s one does not, and the loss is a recoverable AudioLost error event."""
    speech = load_speech("s1")
    fake = FakeFunAsr([speech.text], drop_after=48000)
    resilience = fr.Resilience(replay_seconds=replay_seconds, backoff_initial=0.01)
    plugin = funasr_realtime.STT(transport=fake.transport, resilience=resilience)
    errors: list[stt.STTError] = []
    plugin.on("error", errors.append)
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, frames(speech.pcm, 16000), pace=0)
    stream.flush()
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()

    assert [f.text for f in finals(events)] == [speech.text], "recognition went on"
    cut, resumed = fake.tasks
    assert not cut.finished and resumed.said == [speech.text]
    if replay_seconds > 1.5:
        assert errors == []
        assert resumed.audio_bytes == len(speech.pcm), "the whole sentence replayed"
        return
    [lost] = errors
    assert lost.recoverable and isinstance(lost.error, funasr_realtime.AudioLost)
    assert lost.error.dropped_ms > 0 and lost.error.retryable
    assert fake.errors == []
