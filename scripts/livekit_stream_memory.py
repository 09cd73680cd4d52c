"""Memory each LiveKit plugin stream holds for audio not yet covered by a final.

Opens ``--streams`` plugin streams on a local server (the synthetic engine, which finalizes
nothing in silence) and pushes ``--seconds`` of 48 kHz silence into each, as a room track
would, then reports the Python heap the streams hold per stream (tracemalloc), beside the
audio the core's replay buffer holds. Audio no final covers is what a stream must keep for
a replay; anything above that is a second copy.

    PYTHONPATH=. .venv/bin/python scripts/livekit_stream_memory.py
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc

from livekit import rtc
from livekit.agents import stt
from livekit.plugins import funasr_realtime

from funasr_realtime import RecognitionStream
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread

ROOM_RATE = 48000
FRAME_MS = 20


def _silence_frames(seconds: float) -> list[rtc.AudioFrame]:
    samples = ROOM_RATE * FRAME_MS // 1000
    frame = bytes(samples * 2)
    return [rtc.AudioFrame(frame, ROOM_RATE, 1, samples) for _ in range(int(seconds * 1000 / FRAME_MS))]


async def _measure(url: str, streams: int, seconds: float) -> tuple[float, float]:
    """(KiB of heap per stream, KiB of core replay audio per stream)."""
    plugin = funasr_realtime.STT(url=url)
    frames = _silence_frames(seconds)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    opened: list[stt.RecognizeStream] = [plugin.stream() for _ in range(streams)]
    for stream in opened:
        for frame in frames:
            stream.push_frame(frame)
    await _until_sent(opened, seconds)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    replay = sum(_replay_bytes(stream) for stream in opened)
    for stream in opened:
        await stream.aclose()
    await plugin.aclose()
    return held / streams / 1024, replay / streams / 1024


async def _until_sent(streams: list[stt.RecognizeStream], seconds: float) -> None:
    """Wait until every stream's core has taken the audio, but the resampler's tail (bounded)."""
    async with asyncio.timeout(60 + seconds):
        # A poll: no event says the core took the audio. 100 ms: the resampler's delay.
        while any(_core_audio_ms(stream) < seconds * 1000 - 100 for stream in streams):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def _core(stream: stt.RecognizeStream) -> object:
    return getattr(stream, "_core", None)


def _core_audio_ms(stream: stt.RecognizeStream) -> int:
    core = _core(stream)
    return int(getattr(core, "audio_ms", 0)) if core is not None else 0


def _replay_bytes(stream: stt.RecognizeStream) -> int:
    """Audio the core stream holds for a replay (what ``resume_point()`` would hand on)."""
    core = _core(stream)
    return len(core.resume_point().audio) if isinstance(core, RecognitionStream) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    options = parser.parse_args()
    with ServerThread(ServerConfig(engine="synthetic")) as server:
        per_stream, replay = asyncio.run(_measure(server.url, options.streams, options.seconds))
    print(
        f"{options.streams} streams x {options.seconds:g} s of silence: "
        f"{per_stream:.0f} KiB of heap per stream; the core's replay buffer holds {replay:.0f} KiB of it"
    )


if __name__ == "__main__":
    main()
