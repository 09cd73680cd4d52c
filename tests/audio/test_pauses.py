"""Container formats survive pauses: the client sends them as PCM, so a new task needs no header.

Two kinds of pause, in one stream: 15 s of digital silence inside the audio (the server's
VAD and heartbeats see it), and a pause in *sending* longer than ``idle_finish``, after which
the stream finishes the task and the rest of the file goes to a new one. Before the client
converted to PCM, that new task got mid-file bytes with no header: ``NO_VALID_AUDIO_ERROR``.
"""

from __future__ import annotations

import asyncio

import pytest

from funasr_realtime import Client, Resilience
from funasr_realtime.client import RecognitionStream, SentenceEvent, TaskCompleted
from funasr_realtime.server.thread import ServerThread
from tests.audio.media import encode, wav_bytes, with_silence
from tests.conftest import chunks, load_speech
from tests.timing import scaled

S1 = load_speech("s1")
S2 = load_speech("s2")
PAUSED = with_silence(S1.pcm + S2.pcm, 15, at=len(S1.pcm))  # s1, 15 s of silence, s2


def paused_file(kind: str) -> bytes:
    return wav_bytes(PAUSED, channels=1, rate=16000, bits=16) if kind == "wav" else encode(PAUSED, kind)


async def collect(stream: RecognitionStream, finals: list[str], completions: list[TaskCompleted]) -> None:
    async for event in stream:
        if isinstance(event, SentenceEvent) and event.is_final and event.sentence.text:
            finals.append(event.sentence.text)
        elif isinstance(event, TaskCompleted):
            completions.append(event)


@pytest.mark.parametrize("kind", ["wav", "mp3", "opus"])
async def test_a_long_pause_in_a_container_stream_loses_nothing(grammar_server: ServerThread, kind: str) -> None:
    data = paused_file(kind)
    client = Client(url=grammar_server.url, resilience=Resilience(idle_finish=scaled(1)))
    finals: list[str] = []
    completions: list[TaskCompleted] = []
    stream = client.stream(format=kind, sample_rate=16000)
    reader = asyncio.create_task(collect(stream, finals, completions))
    try:
        middle = len(data) // 2  # inside the silence: s1 is 2.5 s of a 20.5 s file
        for chunk in chunks(data[:middle], 2000):
            await stream.send_audio(chunk)
        await asyncio.sleep(scaled(2.5))  # no audio for longer than idle_finish: the task is finished
        for chunk in chunks(data[middle:], 2000):
            await stream.send_audio(chunk)
        await stream.finish()
        await asyncio.wait_for(reader, scaled(30))
    finally:
        reader.cancel()
        await stream.aclose()
    assert finals == [S1.text, S2.text]
    assert [c.finalized for c in completions] == [False, True], "an idle finish, then a task started mid-file"
