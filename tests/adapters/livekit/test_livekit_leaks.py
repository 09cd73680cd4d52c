"""No funasr-realtime task outlives LiveKit's ``aclose()`` (the check runs right after it, no sleep).

LiveKit's own suite flags tasks still pending at teardown; ``tests.adapters.leaks`` is that
check with ``asyncio.all_tasks()``. It found ``RecognitionStream._supervise``,
``Connection._read_loop`` and the keepalive pending right after ``aclose()``.
"""

from __future__ import annotations

import asyncio

from livekit.agents import APIConnectOptions
from livekit.plugins import funasr_realtime

from funasr_realtime.server.thread import ServerThread
from tests.adapters.leaks import describe, pending_funasr_tasks
from tests.conftest import load_speech
from tests.timing import scaled

from .helpers import Recorder, finals, frames, has_final, push, stream_mid_utterance

NO_RETRY = APIConnectOptions(max_retry=0)


async def test_stream_aclose_mid_utterance_leaves_no_task(grammar_server: ServerThread) -> None:
    plugin, stream, recorder = await stream_mid_utterance(url=grammar_server.url)
    await recorder.wait_for(bool, timeout=scaled(5))  # some event came: a task is running
    await stream.aclose()
    leaked = pending_funasr_tasks()
    await plugin.aclose()
    assert leaked == [], describe(leaked)


async def test_stream_aclose_after_results_leaves_no_task(grammar_server: ServerThread) -> None:
    """The AgentSession path: ``async with stt.stream()``, a flush, results, then close."""
    speech = load_speech("s2")
    plugin = funasr_realtime.STT(url=grammar_server.url)
    async with plugin.stream() as stream:
        recorder = Recorder(stream)
        await push(stream, frames(speech.pcm, 16000))
        stream.flush()
        await recorder.wait_for(has_final(1), timeout=scaled(10))
    leaked = pending_funasr_tasks()
    await plugin.aclose()
    assert [f.text for f in finals(recorder.events)] == [speech.text]
    assert leaked == [], describe(leaked)


async def test_stt_aclose_closes_prewarmed_and_open_streams_without_leaks(grammar_server: ServerThread) -> None:
    plugin = funasr_realtime.STT(url=grammar_server.url)
    plugin.prewarm()
    stream = plugin.stream()  # takes the pre-warmed connection
    plugin.prewarm()  # and a second one waits for the next stream
    stream.push_frame(frames(load_speech("s3").pcm, 16000)[0])
    await asyncio.sleep(scaled(0.3))
    await plugin.aclose()
    leaked = pending_funasr_tasks()
    assert leaked == [], describe(leaked)


async def test_recognize_leaves_no_task(grammar_server: ServerThread) -> None:
    speech = load_speech("s4")
    plugin = funasr_realtime.STT(url=grammar_server.url)
    event = await plugin.recognize(frames(speech.pcm, 16000), conn_options=NO_RETRY)
    leaked = pending_funasr_tasks()
    await plugin.aclose()
    assert event.alternatives[0].text == speech.text
    assert leaked == [], describe(leaked)
