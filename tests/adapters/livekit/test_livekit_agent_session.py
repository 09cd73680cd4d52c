"""The plugin inside a real AgentSession (no room, no LLM): the framework's flush reaches it."""

from __future__ import annotations

import asyncio

from livekit import rtc
from livekit.agents import Agent, AgentSession, UserInputTranscribedEvent
from livekit.agents.voice.io import AudioInput
from livekit.plugins import funasr_realtime

from funasr_realtime.server.thread import ServerThread
from tests.conftest import load_speech

from .helpers import frames, silence


class QueuedAudio(AudioInput):
    """Audio input fed by the test, as a room track would feed the session."""

    def __init__(self) -> None:
        super().__init__(label="test-audio")
        self.queue: asyncio.Queue[rtc.AudioFrame] = asyncio.Queue()

    async def __anext__(self) -> rtc.AudioFrame:
        return await self.queue.get()


async def test_commit_user_turn_flushes_and_gets_the_final_at_once(grammar_server: ServerThread) -> None:
    """With manual turns, commit_user_turn() asks the STT to flush (manual_flush=True). Fun-ASR
    would wait 6 s of silence to end this sentence; the flush ends the task instead, and the
    committed transcript is the exact sentence."""
    speech = load_speech("s5")
    plugin = funasr_realtime.STT(url=grammar_server.url, max_sentence_silence=6000)
    session = AgentSession(stt=plugin, turn_handling={"turn_detection": "manual"})
    audio = QueuedAudio()
    session.input.audio = audio
    transcripts: list[UserInputTranscribedEvent] = []
    session.on("user_input_transcribed", transcripts.append)
    await session.start(agent=Agent(instructions="Transcribe."))
    try:
        for frame in frames(speech.pcm + silence(500, 16000), 16000):
            audio.queue.put_nowait(frame)
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
        assert not any(t.is_final for t in transcripts), "Fun-ASR alone would not end the sentence yet"
        loop = asyncio.get_running_loop()
        committed_at = loop.time()
        transcript = await asyncio.wait_for(session.commit_user_turn(transcript_timeout=3.0, skip_reply=True), 5)
        assert loop.time() - committed_at < 1.0, "the flush produced the final, no timeout was needed"
    finally:
        await session.aclose()
        await plugin.aclose()
    assert transcript == speech.text
    assert [t.transcript for t in transcripts if t.is_final] == [speech.text]
