"""Many sessions at once, misbehaving and full-speed clients mixed in: well-behaved sessions lose nothing.

The assertions are outcomes ("every word of every well-behaved session, no audio dropped,
with the default client policy"), never "zero errors" or wall-clock pacing: a reconnect
under load is allowed, a lost word is not. Time bounds scale with ``FUNASR_TEST_MS``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from tests.conftest import GRAMMAR, chunks, load_speech
from tests.server.process import served
from tests.server.wire import (
    TERMINAL,
    finish_task,
    new_task_id,
    real_time_session,
    recv_event,
    start,
)
from tests.timing import scaled
from websockets.asyncio.client import connect

import funasr_realtime as fr
from funasr_realtime.testing import FaultProxy

SESSIONS = 100
AUDIO_S = 2.0
HOGS = 20


@pytest.fixture(scope="module")
def synthetic_url() -> Iterator[str]:
    with served("--engine", "synthetic") as url:
        yield url


@dataclass
class Outcome:
    """What a well-behaved session saw."""

    finals: list[str] = field(default_factory=list)
    reconnects: int = 0
    dropped_ms: int = 0


async def well_behaved(url: str, pcm: bytes) -> Outcome:
    """Stream at real-time pace with the default client policy; return what was delivered."""
    client = fr.Client(url=url, resilience=fr.Resilience(standby=False))
    outcome = Outcome()
    async with client.stream() as stream:

        async def read() -> None:
            async for event in stream:
                if isinstance(event, fr.SentenceEvent) and event.is_final:
                    outcome.finals.append(event.sentence.text)
                elif isinstance(event, fr.Reconnected):
                    outcome.reconnects += 1
                    outcome.dropped_ms += event.dropped_ms

        reader = asyncio.create_task(read())
        start = time.monotonic()
        for n, chunk in enumerate(chunks(pcm)):
            await asyncio.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
            await stream.send_audio(chunk)
        await stream.finish()
        await reader
    return outcome


async def garbage(url: str) -> None:
    async with connect(url) as ws:
        await ws.send("\x00\x01 not json at all")
        await asyncio.wait_for(ws.wait_closed(), scaled(5))


async def audio_before_run_task(url: str) -> None:
    async with connect(url) as ws:
        await ws.send(b"\x00" * 3200)
        reply = json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))
        assert reply["header"]["event"] == "task-failed"


async def oversized(url: str) -> None:
    async with connect(url, max_size=None) as ws:
        await ws.send(b"\x00" * (1 << 20))  # beyond the server's 256 kB message limit
        await asyncio.wait_for(ws.wait_closed(), scaled(5))
        assert ws.close_code == 1009


async def never_reads(url: str) -> None:
    """Starts a task, floods audio and never reads a result."""
    host, port = url.split("//")[1].split("/", maxsplit=1)[0].split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /api-ws/v1/inference HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    await asyncio.sleep(3)
    writer.close()


async def half_open(proxy: FaultProxy) -> None:
    """A client whose path goes dark mid-task."""
    stream = fr.Client(url=proxy.url, resilience=fr.Resilience(max_retries=0, standby=False)).stream()
    await stream.send_audio(b"\x00\x00" * 8000)
    await asyncio.sleep(0.3)
    proxy.blackhole()
    await asyncio.sleep(1.0)
    await stream.aclose()


async def test_hundred_sessions_with_misbehaving_clients(synthetic_url: str) -> None:
    pcm = load_speech("s1").pcm[: int(AUDIO_S * 32000)]
    alone = await well_behaved(synthetic_url, pcm)
    assert alone.finals, "the reference session got no final"
    assert all(text.startswith("[synthetic]") for text in alone.finals)
    async with asyncio.timeout(scaled(120)), FaultProxy(synthetic_url) as proxy:
        results = await asyncio.gather(
            *(well_behaved(synthetic_url, pcm) for _ in range(SESSIONS)),
            *(garbage(synthetic_url) for _ in range(5)),
            *(audio_before_run_task(synthetic_url) for _ in range(5)),
            *(oversized(synthetic_url) for _ in range(3)),
            *(never_reads(synthetic_url) for _ in range(3)),
            *(half_open(proxy) for _ in range(1)),
            return_exceptions=True,
        )
    sessions, misbehaving = results[:SESSIONS], results[SESSIONS:]
    failed = [r for r in sessions if not isinstance(r, Outcome)]
    assert not failed, failed[:3]
    # No word lost: every session delivered exactly what the same audio gives alone.
    assert [r.finals for r in sessions if isinstance(r, Outcome)] == [alone.finals] * SESSIONS
    assert sum(r.dropped_ms for r in sessions if isinstance(r, Outcome)) == 0
    # The misbehaving clients were answered as documented (each raises if not).
    errors = [r for r in misbehaving if isinstance(r, BaseException)]
    assert not errors, errors[:3]


async def hog(url: str, pcm: bytes, started: asyncio.Event) -> int:
    """Sends ``pcm`` as fast as the server takes it in one task, reading its results; returns bytes sent."""
    sent = 0
    async with connect(url, ping_interval=None) as ws:
        task_id = new_task_id()
        await start(ws, task_id)

        async def drain() -> None:
            while (await recv_event(ws, scaled(120)))["header"]["event"] not in TERMINAL:
                pass

        reader = asyncio.create_task(drain())
        try:
            for frame in chunks(pcm):
                await ws.send(frame)
                sent += len(frame)
                if sent >= len(pcm) // 4:
                    started.set()
            await ws.send(finish_task(task_id))
            await reader  # cancelled by the test once the real-time session is done
        finally:
            reader.cancel()
    return sent


async def test_real_time_session_beside_full_speed_clients() -> None:
    """Fairness: 20 clients stream 20 s each as fast as they can (400 s of audio, far more than
    the engine recognizes during the test); a real-time session beside them still finishes
    its sentence within its duration plus a small margin, with the exact transcript.
    Measured on an idle 2-core machine (grammar engine): 2.49 s of audio took 2.48 s
    (finish-task to task-finished 0.08 s) beside the hogs; before fair scheduling 3.80 s (1.40 s)."""
    speech = load_speech("s1")
    hog_audio = load_speech("long").pcm
    with served("--grammar", str(GRAMMAR)) as url:
        started = [asyncio.Event() for _ in range(HOGS)]
        hogs = [asyncio.create_task(hog(url, hog_audio, event)) for event in started]
        try:
            async with asyncio.timeout(scaled(30)):
                await asyncio.gather(*(event.wait() for event in started))
            texts, total, finish_latency = await real_time_session(url, speech.pcm, timeout=scaled(30))
            still_streaming = [h for h in hogs if not h.done()]
        finally:
            for task in hogs:
                task.cancel()
            await asyncio.gather(*hogs, return_exceptions=True)
    assert texts == list(speech.texts)
    assert len(still_streaming) == HOGS, "a full-speed client must be slowed down, not dropped"
    budget = speech.duration_ms / 1000
    assert total <= budget + scaled(1.0), (
        f"{total:.2f} s for {budget:.2f} s of audio ({finish_latency:.2f} s to finish)"
    )


async def test_real_engine_sessions_in_parallel() -> None:
    """Four real-time sessions on the real engine, each recognized exactly."""
    speeches = [load_speech(name) for name in ("s1", "s2", "s3", "s4")]
    with served("--grammar", str(GRAMMAR)) as url:
        results = await asyncio.gather(*(well_behaved(url, s.pcm) for s in speeches))
    assert [r.finals for r in results] == [[s.text] for s in speeches]
    assert sum(r.dropped_ms for r in results) == 0
