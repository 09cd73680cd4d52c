"""Stream a WAV file through the LiveKit plugin, as an AgentSession would, with no LiveKit server.

Frames of 20 ms go into ``stt.stream()`` at the file's own rate (LiveKit resamples 48 kHz to
the model's 16 kHz). A small energy detector plays the part of LiveKit's VAD: after 400 ms
of quiet it calls ``flush()``, and the script prints each final with its times and how long
after the flush it arrived.

    funasr-realtime serve --grammar tests/fixtures/speech/sentences.jsgf   # prints its URL
    python examples/livekit_transcribe_wav.py tests/fixtures/speech/long_16k.wav --url ws://127.0.0.1:PORT/...

Without --url it uses Alibaba Cloud ($DASHSCOPE_API_KEY, $DASHSCOPE_WEBSOCKET_BASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import wave
from collections import deque

import numpy as np
from livekit import rtc
from livekit.agents import stt
from livekit.plugins import funasr_realtime

FRAME_MS = 20
QUIET_MS = 400  # silence that counts as the end of speech (Silero's default is 550 ms)


def read_frames(path: str) -> list[rtc.AudioFrame]:
    with wave.open(path) as wav:
        rate, channels, pcm = wav.getframerate(), wav.getnchannels(), wav.readframes(wav.getnframes())
    size = rate * channels * 2 * FRAME_MS // 1000
    return [
        rtc.AudioFrame(pcm[i : i + size], rate, channels, len(pcm[i : i + size]) // (2 * channels))
        for i in range(0, len(pcm), size)
    ]


def is_speech(frame: rtc.AudioFrame) -> bool:
    samples = np.frombuffer(frame.data, dtype=np.int16).astype(np.float32)
    return bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > 300.0


async def feed(
    stream: funasr_realtime.SpeechStream, frames: list[rtc.AudioFrame], speed: float, flushes: deque[float]
) -> None:
    """Push the frames in real time (times ``speed``); flush at each pause, as a VAD would."""
    quiet_ms, speaking = 0, False
    started = time.perf_counter()
    for n, frame in enumerate(frames):
        stream.push_frame(frame)
        if is_speech(frame):
            quiet_ms, speaking = 0, True
        elif speaking and (quiet_ms := quiet_ms + FRAME_MS) >= QUIET_MS:
            speaking = False
            flushes.append(time.perf_counter())
            stream.flush()  # what AgentSession does at the end of speech (manual_flush=True)
        if speed > 0:
            await asyncio.sleep(max(0.0, started + (n + 1) * FRAME_MS / 1000 / speed - time.perf_counter()))
    if speaking:
        flushes.append(time.perf_counter())
    stream.end_input()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav")
    parser.add_argument("--url", help="WebSocket URL (default: Alibaba Cloud)")
    parser.add_argument("--language", default=None, help="zh, en, ja... (default: auto-detect)")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time; 0 = as fast as possible")
    args = parser.parse_args()

    plugin = funasr_realtime.STT(url=args.url, language=args.language)
    billed = 0.0
    flushes: deque[float] = deque()  # flushes whose turn is not over yet, oldest first
    latencies: list[float] = []
    stream = plugin.stream()
    feeder = asyncio.create_task(feed(stream, read_frames(args.wav), args.speed, flushes))
    async for event in stream:
        if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
            data = event.alternatives[0]
            when = "before the flush"
            if flushes:
                latencies.append(time.perf_counter() - flushes[0])
                when = f"{latencies[-1] * 1000:.0f} ms after the flush"
            print(f"[{data.start_time:6.2f}s - {data.end_time:6.2f}s] {data.text}  ({when})")
        elif event.type == stt.SpeechEventType.END_OF_SPEECH and flushes:
            flushes.popleft()  # one END_OF_SPEECH per flushed turn
        elif event.type == stt.SpeechEventType.RECOGNITION_USAGE and event.recognition_usage:
            billed += event.recognition_usage.audio_duration
    await feeder
    await plugin.aclose()
    median = sorted(latencies)[len(latencies) // 2] * 1000 if latencies else float("nan")
    print(f"billed {billed:g} s of audio; median flush-to-final {median:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
