"""The LiveKit plugin on Chinese: the local server's replay engine, in memory and in a real AgentSession.

Recorded Fun-ASR results (``funasr_realtime.server.replay``) reach LiveKit as SpeechData with
the sentence's own text (no space between Chinese characters, the spaces around Latin words
kept), the words with their punctuation, stream seconds that continue across task rotations,
and the language: the configured one, else guessed from the script (Fun-ASR reports none).
"""

# ruff: noqa: RUF001  # full-width punctuation is what Chinese text holds, on purpose

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import Agent, AgentSession, UserInputTranscribedEvent, stt
from livekit.plugins import funasr_realtime

from funasr_realtime.server.engines.replay import ReplayEngine
from funasr_realtime.testing import MockTransport, recognizer
from tests.replay import MIXED_FINALS, ZH, ZH_FINALS

from .helpers import Recorder, finals, frames, push, silence
from .test_livekit_agent_session import QueuedAudio


def replaying(fixture: str, **options: object) -> funasr_realtime.STT:
    return funasr_realtime.STT(transport=MockTransport(recognizer(ReplayEngine(fixture))), **options)  # type: ignore[arg-type]


async def stream_parts(plugin: funasr_realtime.STT, *parts: int) -> list[stt.SpeechEvent]:
    """Push ``parts`` (milliseconds of audio each), flushing between them (a task rotation)."""
    stream = plugin.stream()
    recorder = Recorder(stream)
    for index, ms in enumerate(parts):
        if index:
            stream.flush()
        await push(stream, frames(silence(ms, 16000), 16000), pace=0)
    stream.end_input()
    events = await recorder.finish()
    await plugin.aclose()
    return events


@pytest.mark.usefixtures("no_network")
async def test_mixed_finals_keep_their_text_words_and_times_across_a_rotation() -> None:
    events = await stream_parts(replaying("zh-en"), 4600, 9600)
    data = finals(events)
    assert [d.text for d in data] == MIXED_FINALS[:1] + MIXED_FINALS
    assert [d.language for d in data] == ["zh", "zh", "zh", "en"], "guessed from the script: no language configured"
    assert data[0].words is not None and [str(w) for w in data[0].words][5:8] == ["个", "meeting，", "讨论"]
    spans = [t for d in data for t in (d.start_time, d.end_time)]
    assert spans == pytest.approx([0.3, 3.9, 4.9, 8.5, 9.6, 11.6, 12.6, 13.5], abs=1e-3), "the second task: 4.6 s on"
    assert data[3].words is not None
    assert [w.start_time for w in data[3].words] == pytest.approx([12.6, 13.0, 13.2], abs=1e-3)


@pytest.mark.usefixtures("no_network")
async def test_a_configured_language_is_reported_and_recognize_joins_without_spaces() -> None:
    plugin = replaying("zh", language="zh-CN")
    [one] = finals(await stream_parts(plugin, 4000))
    assert (one.text, one.language) == (ZH_FINALS[0], "zh-CN")
    plugin = replaying("zh")
    event = await plugin.recognize(frames(silence(ZH.duration_ms, 16000), 16000))
    await plugin.aclose()
    [data] = event.alternatives
    assert (data.text, data.language) == ("".join(ZH_FINALS), "zh")
    assert (data.start_time, data.end_time) == pytest.approx((0.24, 10.1))


async def test_an_agent_session_gets_each_chinese_sentence_whole() -> None:
    """A real AgentSession with manual turns, committed while the third sentence is open: the
    flush ends it, and the user's finals are the exact sentences. (LiveKit itself joins a turn's
    finals with a space, ``voice/audio_recognition.py``: the committed turn of three Chinese
    sentences has two spaces the plugin cannot prevent.)"""
    plugin = replaying("zh")
    session: AgentSession[None] = AgentSession(stt=plugin, turn_handling={"turn_detection": "manual"})
    audio = QueuedAudio()
    session.input.audio = audio
    transcripts: list[UserInputTranscribedEvent] = []
    third_heard = asyncio.Event()

    def heard(event: UserInputTranscribedEvent) -> None:
        transcripts.append(event)
        if event.transcript == "请问几点":
            third_heard.set()

    session.on("user_input_transcribed", heard)
    await session.start(agent=Agent(instructions="Transcribe."))
    try:
        for frame in frames(silence(10_200, 16000), 16000):  # the third sentence's final is due at 10.7 s
            audio.queue.put_nowait(frame)
            await asyncio.sleep(0)
        await asyncio.wait_for(third_heard.wait(), 10)  # a partial of the third sentence: it is open
        turn = await asyncio.wait_for(session.commit_user_turn(transcript_timeout=3.0, skip_reply=True), 10)
    finally:
        await session.aclose()
        await plugin.aclose()
    assert [t.transcript for t in transcripts if t.is_final] == ZH_FINALS, "the last one flushed by the commit"
    assert {t.language for t in transcripts if t.is_final} == {"zh"}
    assert turn.replace(" ", "") == "".join(ZH_FINALS)
