"""Driving the LiveKit plugin the way AgentSession does: rtc.AudioFrames into stt.stream()."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import stt
from livekit.plugins import funasr_realtime

from funasr_realtime.testing import Fault, FaultProxy
from tests.conftest import load_speech

FRAME_MS = 20
PACE = 0.25  # wall seconds per second of audio: 4x real time keeps the suite fast

Predicate = Callable[[list[stt.SpeechEvent]], bool]


@functools.cache
def speech_at(name: str, rate: int) -> bytes:
    """A 16 kHz fixture as mono PCM at ``rate`` (LiveKit's own resampler for 48 kHz)."""
    pcm = load_speech(name).pcm
    if rate == 16000:
        return pcm
    resampler = rtc.AudioResampler(16000, rate, quality=rtc.AudioResamplerQuality.HIGH)
    out = [bytes(f.data) for f in resampler.push(bytearray(pcm))]
    out += [bytes(f.data) for f in resampler.flush()]
    return b"".join(out)


def silence(ms: int, rate: int) -> bytes:
    return bytes(rate * 2 * ms // 1000)


def frames(pcm: bytes, rate: int, *, channels: int = 1, frame_ms: int = FRAME_MS) -> list[rtc.AudioFrame]:
    """20 ms frames, as a room track delivers them; ``channels=2`` duplicates the samples."""
    size = rate * 2 * frame_ms // 1000
    out = []
    for start in range(0, len(pcm), size):
        chunk = pcm[start : start + size]
        if channels == 2:
            chunk = b"".join(chunk[i : i + 2] * 2 for i in range(0, len(chunk), 2))
        out.append(rtc.AudioFrame(chunk, rate, channels, len(chunk) // (2 * channels)))
    return out


def stereo_frames(left: bytes, right: bytes, rate: int, *, frame_ms: int = FRAME_MS) -> list[rtc.AudioFrame]:
    """20 ms interleaved stereo frames: ``left`` and ``right`` are mono PCM of equal length."""
    both = np.stack([np.frombuffer(left, dtype=np.int16), np.frombuffer(right, dtype=np.int16)], axis=1)
    interleaved = both.tobytes()
    size = rate * 2 * 2 * frame_ms // 1000
    return [
        rtc.AudioFrame(interleaved[i : i + size], rate, 2, len(interleaved[i : i + size]) // 4)
        for i in range(0, len(interleaved), size)
    ]


async def push(stream: stt.RecognizeStream, audio: Sequence[rtc.AudioFrame], *, pace: float = PACE) -> None:
    """Push frames at ``pace`` (wall seconds per audio second), like a live track."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    elapsed = 0.0
    for frame in audio:
        stream.push_frame(frame)
        elapsed += frame.duration * pace
        await asyncio.sleep(max(0.0, start + elapsed - loop.time()))


@contextlib.asynccontextmanager
async def plugin_behind_fault(
    url: str, fault: Fault, *, client_bytes: int, **options: Any
) -> AsyncIterator[tuple[funasr_realtime.STT, list[stt.STTError]]]:
    """A plugin (``options``) through a proxy to ``url`` that injects ``fault`` once the
    client sent ``client_bytes``, and the list its ``error`` events go to."""
    async with FaultProxy(url) as proxy:
        proxy.fail_after(client_bytes=client_bytes, fault=fault)
        plugin = funasr_realtime.STT(url=proxy.url, **options)
        errors: list[stt.STTError] = []
        plugin.on("error", errors.append)
        yield plugin, errors


async def stream_mid_utterance(
    *, pace: float = PACE, **options: Any
) -> tuple[funasr_realtime.STT, stt.RecognizeStream, Recorder]:
    """A plugin (``options``: ``url=`` or ``transport=``...) and a recorded stream that was
    pushed the first half of ``s1`` at ``pace``."""
    speech = load_speech("s1")
    plugin = funasr_realtime.STT(**options)
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, frames(speech.pcm[: len(speech.pcm) // 2], 16000), pace=pace)
    return plugin, stream, recorder


class Recorder:
    """Collects a stream's events in the background; ``wait_for`` a condition on them."""

    def __init__(self, stream: stt.RecognizeStream) -> None:
        self.events: list[stt.SpeechEvent] = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: stt.RecognizeStream) -> None:
        try:
            async for event in stream:
                self.events.append(event)
                self._changed.set()
        finally:
            self._changed.set()

    async def wait_for(self, predicate: Predicate, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.events):
                if self.task.done():
                    self.task.result()
                    raise AssertionError("the stream ended before the condition held")
                self._changed.clear()
                await self._changed.wait()

    async def finish(self, timeout: float = 15.0) -> list[stt.SpeechEvent]:
        await asyncio.wait_for(self.task, timeout)
        return self.events


def kinds(events: Sequence[stt.SpeechEvent]) -> list[str]:
    """Event types, with runs of interim transcripts collapsed into one ``interim``."""
    out: list[str] = []
    for event in events:
        name = {
            stt.SpeechEventType.START_OF_SPEECH: "start",
            stt.SpeechEventType.INTERIM_TRANSCRIPT: "interim",
            stt.SpeechEventType.FINAL_TRANSCRIPT: "final",
            stt.SpeechEventType.END_OF_SPEECH: "end",
            stt.SpeechEventType.RECOGNITION_USAGE: "usage",
        }[event.type]
        if not (name == "interim" and out and out[-1] == "interim"):
            out.append(name)
    return out


def finals(events: Sequence[stt.SpeechEvent]) -> list[stt.SpeechData]:
    return [e.alternatives[0] for e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]


def has_final(count: int = 1) -> Predicate:
    return lambda events: len(finals(events)) >= count
