"""The LiveKit plugin inside LiveKit's own stream machinery, against the real local server: the wire.

Audio goes in as rtc.AudioFrames through ``stt.stream()`` (48 kHz room audio is resampled by
LiveKit's base class), flushes come the way AgentSession sends them, and every assertion is
on the SpeechEvents LiveKit would hand to the agent. These are the tests that need a socket:
real words and times, a real handshake rejection (the key never shows), and network faults.
The plugin's logic (endpointing, option updates, pre-warming, errors) is tested without
one, on the in-memory transport, in ``test_livekit_logic.py``.
"""

from __future__ import annotations

import pytest
from livekit.agents import APIConnectOptions, APIStatusError, stt
from livekit.agents.metrics import STTMetrics
from livekit.agents.types import TimedString
from livekit.plugins import funasr_realtime

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import FaultProxy
from tests.conftest import load_speech

from .helpers import Recorder, finals, frames, kinds, push, speech_at

FAST = fr.Timeouts(connect=2, task_started=2, stop=3, send=2, ping_interval=0.3, ping_timeout=0.3)
QUICK_RETRIES = APIConnectOptions(max_retry=3, retry_interval=0.1, timeout=5)


@pytest.mark.parametrize("rate", [48000, 16000])
async def test_interim_then_final_per_flush_with_stream_seconds(grammar_server: ServerThread, rate: int) -> None:
    """Two utterances, each ended by a flush: START, INTERIMs, FINAL, END, USAGE each, with
    the right text and second-based times on one timeline shifted by start_time_offset."""
    first, second = load_speech("s1"), load_speech("s2")
    plugin = funasr_realtime.STT(url=grammar_server.url)
    metrics: list[STTMetrics] = []
    plugin.on("metrics_collected", metrics.append)
    stream = plugin.stream()
    stream.start_time_offset = 5.0  # AgentSession sets the seconds since its audio input started
    recorder = Recorder(stream)
    await push(stream, frames(speech_at("s1", rate), rate))
    stream.flush()
    await push(stream, frames(speech_at("s2", rate), rate))
    stream.flush()
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()

    assert kinds(events) == ["start", "interim", "final", "end", "usage"] * 2
    one, two = finals(events)
    assert (one.text, two.text) == (first.text, second.text)
    assert one.language == "en", "detected from the text when no language is configured"
    # Seconds on the stream timeline + start_time_offset; the second utterance starts after
    # the first recording (its task started at 2.488 s of stream audio).
    assert 5.0 + 0.1 < one.start_time < 5.0 + 0.6
    assert 5.0 + 1.9 < one.end_time <= 5.0 + first.duration_ms / 1000 + 0.05
    assert 5.0 + first.duration_ms / 1000 <= two.start_time < 5.0 + first.duration_ms / 1000 + 0.6
    assert two.end_time <= 5.0 + (first.duration_ms + second.duration_ms) / 1000 + 0.05
    for data, speech in ((one, first), (two, second)):
        assert data.words is not None
        assert [w.rstrip(".,?!") for w in data.words] == speech.text.split()
        for word in data.words:
            assert isinstance(word, TimedString)
            assert word.start_time_offset == pytest.approx(5.0, abs=0.01)
            assert isinstance(word.start_time, float) and isinstance(word.end_time, float)
            assert data.start_time - 0.05 <= word.start_time <= word.end_time <= data.end_time + 0.05
    request_ids = [e.request_id for e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(set(request_ids)) == 2 and all(request_ids), "one Fun-ASR task per flush, task ids as request ids"

    usage = [e.recognition_usage for e in events if e.type == stt.SpeechEventType.RECOGNITION_USAGE]
    assert [u.audio_duration for u in usage if u is not None] == [3.0, 3.0], "the billed seconds of each task"
    streamed = [m for m in metrics if m.streamed and m.audio_duration > 0]
    assert sum(m.audio_duration for m in streamed) == 6.0
    acquired = [m for m in metrics if m.acquire_time > 0]
    assert len(acquired) == 1 and not acquired[0].connection_reused


async def test_permanent_handshake_error_is_not_retried(
    grammar_server: ServerThread, debug_logs: pytest.LogCaptureFixture
) -> None:
    """A rejected key (HTTP 401) ends the stream with a non-retryable APIStatusError, once:
    the proxy would accept a second attempt, and none comes."""
    secret = "sk-do-not-leak-0123456789"
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(401, count=1)
        plugin = funasr_realtime.STT(url=proxy.url, api_key=secret)
        errors: list[stt.STTError] = []
        plugin.on("error", errors.append)
        stream = plugin.stream(conn_options=QUICK_RETRIES)
        stream.push_frame(frames(load_speech("s1").pcm, 16000)[0])
        with pytest.raises(APIStatusError) as caught:
            async for _ in stream:
                pass
        await plugin.aclose()
        assert proxy.connections == 1, "neither the core nor LiveKit retried"
    error = caught.value
    assert isinstance(error, APIStatusError) and error.status_code == 401 and not error.retryable
    assert [e.recoverable for e in errors] == [False]
    chain = [error, error.__cause__]
    assert all(secret not in f"{e!s} {e!r}" for e in chain)
    assert debug_logs.records and secret not in debug_logs.text


async def test_connection_dropped_mid_utterance_still_yields_the_complete_transcript(
    grammar_server: ServerThread,
) -> None:
    """The core reconnects and replays by itself: LiveKit sees no error at all."""
    speech = load_speech("s1")
    audio = frames(speech.pcm, 16000)
    async with FaultProxy(grammar_server.url) as proxy:
        plugin = funasr_realtime.STT(url=proxy.url, timeouts=FAST)
        errors: list[stt.STTError] = []
        plugin.on("error", errors.append)
        stream = plugin.stream()
        recorder = Recorder(stream)
        await push(stream, audio[: len(audio) // 2])
        await recorder.wait_for(lambda events: "interim" in kinds(events))
        proxy.drop()  # mid-utterance: "please book a ..." was heard, the rest was not
        await push(stream, audio[len(audio) // 2 :])
        stream.flush()
        stream.end_input()
        events = await recorder.finish()
        await plugin.aclose()
        assert proxy.connections >= 2
    assert [f.text for f in finals(events)] == [speech.text]
    assert 0.1 < finals(events)[0].start_time < 0.6, "the replayed audio keeps its place on the timeline"
    assert errors == []


async def test_livekit_retry_after_the_core_gives_up_loses_no_audio(grammar_server: ServerThread) -> None:
    """The core's budget is one retry; the outage lasts longer (two 503 handshakes), so the
    core gives up with a retryable error and LiveKit reruns the stream. The new core stream
    gets the unfinalized audio back: the transcript is complete and its times unshifted."""
    speech = load_speech("s1")
    audio = frames(speech.pcm, 16000)
    resilience = fr.Resilience(max_retries=1, backoff_initial=0.01, backoff_max=0.05, standby=False)
    async with FaultProxy(grammar_server.url) as proxy:
        plugin = funasr_realtime.STT(url=proxy.url, timeouts=FAST, resilience=resilience)
        errors: list[stt.STTError] = []
        plugin.on("error", errors.append)
        stream = plugin.stream(conn_options=QUICK_RETRIES)
        recorder = Recorder(stream)
        await push(stream, audio[: len(audio) // 2])
        await recorder.wait_for(lambda events: "interim" in kinds(events))
        proxy.reject_handshakes(503, count=2)
        proxy.drop()
        await push(stream, audio[len(audio) // 2 :])
        stream.flush()
        stream.end_input()
        events = await recorder.finish()
        await plugin.aclose()
    assert errors and all(e.recoverable for e in errors), "LiveKit retried"
    assert all(getattr(e.error, "status_code", None) == 503 for e in errors)
    [final] = finals(events)
    assert final.text == speech.text
    assert 0.1 < final.start_time < 0.6, "no wall-clock shift: the replay keeps the stream timeline"
