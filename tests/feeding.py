"""Feed audio into a stream while reading its events: the loop most stream tests need.

A producer task sends the audio (at ``speed`` times real time, or as fast as the stream
takes it) and then finishes the stream, while the caller's task iterates the events. The
finals' texts and the reconnects are collected; ``on_event`` sees every event as it comes
(a test uses it to strike a fault at a chosen moment).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import funasr_realtime as fr
from tests.conftest import chunks

FRAME_BYTES = 3200  # 100 ms of 16 kHz s16le mono


@dataclass
class Collected:
    """What a fed stream delivered."""

    finals: list[str] = field(default_factory=list)
    reconnects: list[fr.Reconnected] = field(default_factory=list)


async def feed_and_collect(
    stream: fr.RecognitionStream,
    pcm: bytes,
    *,
    speed: float | None = None,
    frame: int = FRAME_BYTES,
    on_event: Callable[[fr.StreamEvent], None] | None = None,
) -> Collected:
    """Send ``pcm`` in ``frame``-byte chunks, finish, and collect until the stream ends.

    ``speed`` paces the chunks (``frame`` bytes are 100 ms at 16 kHz); None sends them as
    fast as ``send_audio`` returns. Raises what the stream raises.
    """
    collected = Collected()

    async def feed() -> None:
        started = time.monotonic()
        seconds_per_frame = frame / (stream.params.sample_rate * 2)
        for n, chunk in enumerate(chunks(pcm, frame)):
            if speed is not None:
                await asyncio.sleep(max(0.0, started + n * seconds_per_frame / speed - time.monotonic()))
            await stream.send_audio(chunk)
        await stream.finish()

    feeder = asyncio.create_task(feed())
    try:
        async for event in stream:
            if isinstance(event, fr.SentenceEvent) and event.is_final:
                collected.finals.append(event.sentence.text)
            elif isinstance(event, fr.Reconnected):
                collected.reconnects.append(event)
            if on_event is not None:
                on_event(event)
    except BaseException:
        feeder.cancel()  # the events failed: the producer must not outlive the test
        await asyncio.gather(feeder, return_exceptions=True)
        raise
    await feeder  # the events end before finish() has closed the connections
    return collected
