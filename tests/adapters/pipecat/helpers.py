"""Frames and small processors for driving the adapter with Pipecat's own ``run_test``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import soxr
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    MetricsFrame,
    SystemFrame,
    TranscriptionFrame,
    UserAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import ProcessingMetricsData, STTUsageMetricsData, TTFBMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test
from pipecat_funasr_realtime import FunAsrRealtimeSTTService

F = TypeVar("F", bound=Frame)

STOP_SECS = 0.2  # Pipecat's recommended VAD stop_secs


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Test-side conversion of a 16 kHz fixture to another pipeline rate."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    return np.asarray(soxr.resample(samples, from_rate, to_rate), dtype=np.int16).tobytes()


def audio(pcm: bytes, rate: int = 16000, *, chunk_ms: int = 20, pace: float = 0.0, user_id: str = "") -> list[Frame]:
    """``InputAudioRawFrame``s as a transport sends them; ``pace`` seconds of sleep between chunks."""
    size = rate * 2 * chunk_ms // 1000
    frames: list[Frame] = []
    for offset in range(0, len(pcm), size):
        chunk = pcm[offset : offset + size]
        if user_id:
            frames.append(UserAudioRawFrame(audio=chunk, sample_rate=rate, num_channels=1, user_id=user_id))
        else:
            frames.append(InputAudioRawFrame(audio=chunk, sample_rate=rate, num_channels=1))
        if pace:
            frames.append(SleepFrame(sleep=pace))
    return frames


def realtime(pcm: bytes, rate: int = 16000, *, speed: float = 4.0) -> list[Frame]:
    """100 ms chunks at ``speed`` times real time, as a microphone would deliver them (faster)."""
    return audio(pcm, rate, chunk_ms=100, pace=0.1 / speed)


def vad_stop() -> VADUserStoppedSpeakingFrame:
    return VADUserStoppedSpeakingFrame(stop_secs=STOP_SECS)


def of_type(frames: Iterable[Frame], kind: type[F]) -> list[F]:
    return [frame for frame in frames if isinstance(frame, kind)]


def transcripts(frames: Iterable[Frame]) -> list[TranscriptionFrame]:
    return of_type(frames, TranscriptionFrame)


def errors(frames: Iterable[Frame]) -> list[ErrorFrame]:
    return of_type(frames, ErrorFrame)


def metrics(frames: Iterable[Frame], kind: type[Any]) -> list[Any]:
    return [data for frame in of_type(frames, MetricsFrame) for data in frame.data if isinstance(data, kind)]


def ttfb(frames: Iterable[Frame]) -> list[float]:
    # The metrics collector reports a zero TTFB at start-up (no model yet): skip it.
    return [m.value for m in metrics(frames, TTFBMetricsData) if m.value > 0]


def processing(frames: Iterable[Frame]) -> list[float]:
    return [m.value for m in metrics(frames, ProcessingMetricsData) if m.value > 0]


def usage(frames: Iterable[Frame]) -> list[Any]:
    return [m.value for m in metrics(frames, STTUsageMetricsData)]


@dataclass
class Upstream(SystemFrame):
    """Ask :class:`Reflector` (after the service) to send ``frame`` upstream into it."""

    frame: Frame | None = None


class Reflector(FrameProcessor):
    """Sits after the service and sends frames back upstream, as the user aggregator's VAD does."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, Upstream) and frame.frame is not None:
            await self.push_frame(frame.frame, FrameDirection.UPSTREAM)
        else:
            await self.push_frame(frame, direction)


class Clock(FrameProcessor):
    """Stamps VAD frames with the time they pass (as a live VAD would) and records when.

    Placed before the service, it sees downstream frames on their way in; placed after,
    it records when the service's output passed (``seen``: (monotonic time, frame)).
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)):
            frame.timestamp = time.time()
        self.seen.append((time.monotonic(), frame))
        await self.push_frame(frame, direction)

    def first(self, kind: type[Frame], **matching: Any) -> float:
        for at, frame in self.seen:
            if isinstance(frame, kind) and all(getattr(frame, k) == v for k, v in matching.items()):
                return at
        raise AssertionError(f"no {kind.__name__} {matching} passed")


async def run(
    processor: FrameProcessor | Sequence[FrameProcessor],
    frames: Sequence[Frame],
    *,
    rate: int = 16000,
    send_end_frame: bool = True,
) -> tuple[Sequence[Frame], Sequence[Frame]]:
    """``run_test`` with metrics on; a list of processors becomes a Pipeline."""
    target = Pipeline(list(processor)) if isinstance(processor, Sequence) else processor
    return await run_test(
        target,
        frames_to_send=frames,
        pipeline_params=PipelineParams(enable_metrics=True, enable_usage_metrics=True, audio_in_sample_rate=rate),
        send_end_frame=send_end_frame,
        start_timeout=5.0,
    )


def chunked(pcm: bytes, parts: int) -> Iterator[bytes]:
    """``parts`` pieces of PCM, cut on sample boundaries."""
    step = len(pcm) // parts // 2 * 2
    for i in range(parts):
        yield pcm[i * step : (i + 1) * step if i < parts - 1 else len(pcm)]


__all__ = [
    "STOP_SECS",
    "Clock",
    "FunAsrRealtimeSTTService",
    "Reflector",
    "Upstream",
    "audio",
    "chunked",
    "errors",
    "metrics",
    "of_type",
    "processing",
    "realtime",
    "resample",
    "run",
    "transcripts",
    "ttfb",
    "usage",
    "vad_stop",
]
