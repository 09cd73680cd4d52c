"""The client workers of the network benchmark (:mod:`bench.network`), one process each.

Every worker streams fixture speech at real time (100 ms frames) to ``url``, which is the
latency proxy in front of the real engine, and returns plain JSON.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .common import FRAME_BYTES, FRAME_S


def _speech(name: str, *, trim: bool) -> list[bytes]:
    """100 ms frames of fixture sentence ``name`` (its trailing silence cut if ``trim``)."""
    from tests.conftest import chunks, load_speech

    from .common import trailing_silence_ms

    pcm = load_speech(name).pcm
    if trim:
        keep = len(pcm) - trailing_silence_ms(pcm) * 32
        pcm = pcm[: keep + (-keep % 320)]  # whole 10 ms
    return list(chunks(pcm, FRAME_BYTES))


async def first_result_worker(url: str, names: list[str], repeats: int) -> dict[str, Any]:
    """First ``send_audio`` → first result with text, per attempt, cold and pre-warmed.

    Each attempt has a client of its own, so nothing warm is shared between attempts:
    *cold* has no standby (the first audio opens the connection), *warm* awaits
    ``stream.connect()`` first. Attempt 0 warms code paths and is dropped.
    """
    import funasr_realtime as fr

    out: dict[str, list[dict[str, float | None]]] = {"cold": [], "warm": []}
    for attempt in range(repeats + 1):
        frames = _speech(names[attempt % len(names)], trim=False)
        for mode in ("cold", "warm"):
            resilience = fr.Resilience(standby=mode == "warm")
            stream = fr.Client(url=url, resilience=resilience).stream()
            if mode == "warm":
                await stream.connect()
                await asyncio.sleep(0.05)
            first: asyncio.Future[float] = asyncio.get_running_loop().create_future()

            async def read(stream: fr.RecognitionStream = stream, first: asyncio.Future[float] = first) -> None:
                async for event in stream:
                    if isinstance(event, fr.SentenceEvent) and event.sentence.text and not first.done():
                        first.set_result(time.monotonic())

            reader = asyncio.create_task(read())
            started = time.monotonic()
            for n, frame in enumerate(frames):
                if n:
                    await asyncio.wait([first], timeout=max(0.0, started + n * FRAME_S - time.monotonic()))
                if first.done():
                    break
                await stream.send_audio(frame)
            at = await asyncio.wait_for(asyncio.shield(first), 10.0)
            await stream.finish(timeout=15)
            await reader
            metrics = stream.completed[0]
            if attempt:
                out[mode].append(
                    {
                        "wall_ms": (at - started) * 1000,
                        "fpd_ms": metrics.first_package_delay_ms,
                        "acquire_ms": metrics.acquire_ms,
                        "start_delay_ms": metrics.start_delay_ms,
                    }
                )
    return out


def sdk_first_result_worker(url: str, names: list[str], repeats: int) -> dict[str, Any]:
    """The official SDK's first ``send_audio_frame`` → first result with text (it connects at ``start()``).

    :func:`bench.prewarm.sdk_first_results` on the fixture sentences; *warm* waits 0.8 s,
    0.5 s plus two round trips' worth at the largest delay (its connection and task open).
    """
    from .prewarm import sdk_first_results

    return sdk_first_results(
        url, lambda attempt: _speech(names[attempt % len(names)], trim=False), repeats=repeats, warm_s=0.8, wait_s=10.0
    )


async def rotation_worker(url: str, names: list[str], repeats: int) -> dict[str, Any]:
    """The same sentences streamed back to back in one stream, by rotation and as one long task.

    *rotation*: ``finalize()`` at each sentence's end of speech (trailing silence cut) and
    the next sentence's audio follows at once, the worst case for a rotation: its first
    audio waits for the new task (``acquire_ms`` + ``start_delay_ms``). *long*: the same
    audio in one task, no finalize. Per pass: billed seconds, finals, and the wait of
    every rotated task.
    """
    import funasr_realtime as fr

    client = fr.Client(url=url)
    out: dict[str, list[Any]] = {"waits": [], "first_task": [], "passes": []}
    for _ in range(repeats):
        for mode in ("rotation", "long"):
            sentences = [_speech(name, trim=True) for name in names]
            finals: list[str] = []
            stream = client.stream()
            await stream.connect()

            async def read(stream: fr.RecognitionStream = stream, finals: list[str] = finals) -> None:
                async for event in stream:
                    if isinstance(event, fr.SentenceEvent) and event.is_final and event.sentence.text:
                        finals.append(event.sentence.text)

            reader = asyncio.create_task(read())
            started, n = time.monotonic(), 0
            for frames in sentences:
                for frame in frames:
                    await asyncio.sleep(max(0.0, started + n * FRAME_S - time.monotonic()))
                    await stream.send_audio(frame)
                    n += 1
                if mode == "rotation":
                    await stream.finalize()
            await stream.finish(timeout=30)
            await reader
            tasks = stream.completed
            audio_s = n * FRAME_S
            billed = sum(t.billed_seconds or 0 for t in tasks)
            out["passes"].append(
                {"mode": mode, "tasks": len(tasks), "finals": len(finals), "billed_s": billed, "audio_s": audio_s}
            )
            if mode == "rotation":
                out["first_task"] += [_wait(tasks[0])] if tasks else []
                out["waits"] += [_wait(t) for t in tasks[1:]]
    return out


def _wait(task: Any) -> dict[str, float | None]:
    return {"acquire_ms": task.acquire_ms, "start_delay_ms": task.start_delay_ms, "fpd_ms": task.first_package_delay_ms}
