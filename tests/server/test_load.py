"""Many sessions at once, misbehaving clients mixed in: well-behaved sessions see no error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from tests.conftest import GRAMMAR, chunks, load_speech
from tests.server.process import served
from websockets.asyncio.client import connect

import funasr_realtime as fr
from funasr_realtime.testing import FaultProxy

SESSIONS = 100
AUDIO_S = 2.0


@pytest.fixture(scope="module")
def synthetic_url() -> Iterator[str]:
    with served("--engine", "synthetic") as url:
        yield url


async def well_behaved(url: str, pcm: bytes) -> list[str]:
    """Stream at real-time pace; return the finals."""
    client = fr.Client(url=url, resilience=fr.Resilience(max_retries=0, standby=False))
    finals: list[str] = []
    async with client.stream() as stream:

        async def read() -> None:
            async for event in stream:
                if isinstance(event, fr.SentenceEvent) and event.is_final:
                    finals.append(event.sentence.text)

        reader = asyncio.create_task(read())
        start = time.monotonic()
        for n, chunk in enumerate(chunks(pcm)):
            await asyncio.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
            await stream.send_audio(chunk)
        await stream.finish()
        await reader
    return finals


async def garbage(url: str) -> None:
    async with connect(url) as ws:
        await ws.send("\x00\x01 not json at all")
        await asyncio.wait_for(ws.wait_closed(), 5)


async def audio_before_run_task(url: str) -> None:
    async with connect(url) as ws:
        await ws.send(b"\x00" * 3200)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["header"]["event"] == "task-failed"


async def oversized(url: str) -> None:
    async with connect(url, max_size=None) as ws:
        await ws.send(b"\x00" * (1 << 20))  # beyond the server's 256 kB message limit
        await asyncio.wait_for(ws.wait_closed(), 5)
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
    async with FaultProxy(synthetic_url) as proxy:
        results = await asyncio.gather(
            *(well_behaved(synthetic_url, pcm) for _ in range(SESSIONS)),
            *(garbage(synthetic_url) for _ in range(5)),
            *(audio_before_run_task(synthetic_url) for _ in range(5)),
            *(oversized(synthetic_url) for _ in range(3)),
            *(never_reads(synthetic_url) for _ in range(3)),
            *(half_open(proxy) for _ in range(1)),
            return_exceptions=True,
        )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    finals = results[:SESSIONS]
    assert all(isinstance(f, list) and f and f[0].startswith("[synthetic]") for f in finals)


async def test_real_engine_sessions_in_parallel() -> None:
    """Four real-time sessions on the real engine, each recognized exactly."""
    speeches = [load_speech(name) for name in ("s1", "s2", "s3", "s4")]
    with served("--grammar", str(GRAMMAR)) as url:
        results = await asyncio.gather(*(well_behaved(url, s.pcm) for s in speeches))
    assert results == [[s.text] for s in speeches]
