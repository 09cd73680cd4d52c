"""The server reads eagerly, bounds its backlog, and never blames the client for its own slowness.

A slow engine (the synthetic one, plus a sleep per second of audio) makes the server fall
behind a client that sends at full speed, deterministically and without burning CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tests.conftest import chunks, load_speech
from tests.server.wire import events_until_end, finals, finish_task, new_task_id, recv_event, start, stream
from tests.timing import scaled
from websockets.asyncio.client import ClientConnection, connect

from funasr_realtime.server import LocalServer, ServerConfig
from funasr_realtime.server.engines.synthetic import SyntheticEngine, SyntheticUtterance
from funasr_realtime.server.flow import BacklogBudget, FairScheduler, Inbox, Tenant

FRAME = 3200  # 100 ms of 16 kHz PCM


class _SlowUtterance:
    def __init__(self, inner: SyntheticUtterance, cost: float) -> None:
        self._inner = inner
        self._cost = cost

    def feed(self, pcm16k: bytes) -> str:
        time.sleep(len(pcm16k) / 32000 * self._cost)  # sleeps: slow without using the CPU
        return self._inner.feed(pcm16k)

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        return self._inner.end()

    def close(self) -> None:
        self._inner.close()


class SlowEngine:
    """The synthetic engine taking ``cost`` seconds per second of speech."""

    name = "slow"
    synthetic = True

    def __init__(self, cost: float) -> None:
        self._inner = SyntheticEngine()
        self._cost = cost

    def new_utterance(self) -> _SlowUtterance:
        return _SlowUtterance(self._inner.new_utterance(), self._cost)


@contextlib.asynccontextmanager
async def _slow_server(cost: float, **overrides: Any) -> AsyncIterator[LocalServer]:
    async with LocalServer(ServerConfig(engine="synthetic", **overrides), engine=SlowEngine(cost)) as server:
        yield server


@contextlib.asynccontextmanager
async def _peak_backlog(server: LocalServer) -> AsyncIterator[list[int]]:
    """Samples ``server.backlog_bytes``; the list holds the peak seen."""
    peak = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], server.backlog_bytes)
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)


def _texts(events: list[dict[str, Any]]) -> list[str]:
    return [s["text"] for s in finals(events)]


async def _whole_file_at_full_speed(ws: ClientConnection, pcm: bytes) -> list[dict[str, Any]]:
    task_id = new_task_id()
    await start(ws, task_id)
    await stream(ws, chunks(pcm, FRAME))
    await ws.send(finish_task(task_id))
    return await events_until_end(ws, timeout=scaled(60))


@pytest.fixture(scope="module")
def reference() -> Iterator[dict[str, list[str]]]:
    """Finals of each fixture from the synthetic engine, sent at a gentle pace (no backlog)."""

    async def one(name: str) -> list[str]:
        async with LocalServer(ServerConfig(engine="synthetic")) as server, connect(server.url) as ws:
            task_id = new_task_id()
            await start(ws, task_id)
            for frame in chunks(load_speech(name).pcm, FRAME):
                await ws.send(frame)
                await asyncio.sleep(0.001)
            await ws.send(finish_task(task_id))
            return _texts(await events_until_end(ws))

    yield {name: asyncio.run(one(name)) for name in ("s1", "long")}


async def test_pings_are_answered_while_recognition_runs_behind(reference: dict[str, list[str]]) -> None:
    """The issue-11 failure: pongs queued behind unread audio made a busy server look dead."""
    speech = load_speech("long")
    async with _slow_server(cost=0.15) as server, connect(server.url, ping_interval=None) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await stream(ws, chunks(speech.pcm, FRAME))  # 20 s of audio, about 3 s of work
        latencies = []
        for _ in range(3):
            pong = await ws.ping()
            latencies.append(await asyncio.wait_for(pong, scaled(2)))
            behind = server.backlog_bytes
            await asyncio.sleep(0.2)
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws, timeout=scaled(30))
    assert behind > 0, "the pings must have been answered while audio was still queued"
    assert max(latencies) < scaled(0.5), latencies
    assert events[-1]["header"]["event"] == "task-finished"
    assert _texts(events) == reference["long"]


async def test_task_backlog_is_bounded_and_nothing_is_lost(reference: dict[str, list[str]]) -> None:
    speech = load_speech("long")
    limit = 32000  # max_backlog_seconds=1.0 at 16 kHz
    config = {"max_backlog_seconds": 1.0, "client_timeout": 0.5}
    async with (
        _slow_server(cost=0.15, **config) as server,
        _peak_backlog(server) as peak,
        connect(server.url, ping_interval=None) as ws,
    ):
        events = await _whole_file_at_full_speed(ws, speech.pcm)
    assert events[-1]["header"]["event"] == "task-finished", events[-1]
    assert _texts(events) == reference["long"]
    assert limit <= peak[0] <= limit + FRAME, "the reader must stop at the bound (one frame past at most)"


async def test_a_reader_blocked_by_the_server_is_never_timed_out(reference: dict[str, list[str]]) -> None:
    """A hog fills the server-wide budget; a real-time client on another connection is then
    not read for longer than client_timeout, and must not be failed for it."""
    # The budget must be well below the hog's 79.6 kB: the engine recognizes while the
    # reader reads, and with a budget of 64 kB a slow reader (a busy machine) once read the
    # whole file before the budget was full. With 48 kB the engine would have to get a
    # second ahead of the reader; at half the budget (hysteresis) readers resume only
    # after 0.75 s of recognition, longer than client_timeout.
    total = 48000
    async with _slow_server(cost=1.0, max_backlog_bytes_total=total, client_timeout=0.5) as server:

        async def hog() -> list[dict[str, Any]]:
            async with connect(server.url, ping_interval=None) as ws:
                return await _whole_file_at_full_speed(ws, load_speech("s1").pcm)

        async def real_time() -> list[dict[str, Any]]:
            async with connect(server.url, ping_interval=None) as ws:
                task_id = new_task_id()
                await start(ws, task_id)
                for frame in chunks(b"\x00" * (32000 * 3), FRAME):  # 3 s of silence: cheap to recognize
                    await ws.send(frame)
                    await asyncio.sleep(0.1)
                await ws.send(finish_task(task_id))
                return await events_until_end(ws, timeout=scaled(30))

        async with _peak_backlog(server) as peak:
            hogged = asyncio.create_task(hog())
            await asyncio.sleep(0.3)
            quiet = await real_time()
            hogged_events = await hogged
    assert quiet[-1]["header"]["event"] == "task-finished", quiet[-1]
    assert hogged_events[-1]["header"]["event"] == "task-finished", hogged_events[-1]
    assert _texts(hogged_events) == reference["s1"]
    assert total <= peak[0] <= total + 2 * FRAME


async def test_client_timeout_counts_frames_received_not_processed(reference: dict[str, list[str]]) -> None:
    """All audio at once, then silence without finish-task: every result of the received audio
    comes first, then CLIENT_ERROR right away (the client has been silent for longer than
    client_timeout by then), not client_timeout after the server caught up."""
    speech = load_speech("long")
    async with _slow_server(cost=0.15, client_timeout=1.0) as server, connect(server.url, ping_interval=None) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await stream(ws, chunks(speech.pcm, FRAME))
        arrivals: list[tuple[float, dict[str, Any]]] = []
        async with asyncio.timeout(scaled(30)):
            while not arrivals or arrivals[-1][1]["header"]["event"] == "result-generated":
                event = await recv_event(ws, scaled(30))
                arrivals.append((time.monotonic(), event))
    failed = arrivals[-1][1]["header"]
    assert failed["event"] == "task-failed"
    assert failed["error_code"] == "CLIENT_ERROR"
    # The open last sentence is never finished: every earlier one was delivered.
    assert _texts([e for _, e in arrivals]) == reference["long"][:-1]
    gap = arrivals[-1][0] - arrivals[-2][0]
    assert gap < scaled(0.5), f"task-failed came {gap:.2f} s after the last result"


# --------------------------------------------------------------------------- flow primitives


async def test_inbox_blocks_at_its_limit_and_resumes_at_half() -> None:
    budget = BacklogBudget(1000)
    inbox = Inbox(budget, limit=100)
    inbox.put(b"x" * 60)
    assert not inbox.blocked
    inbox.put(b"x" * 60)
    assert inbox.blocked
    first = inbox.pop()
    assert first is not None
    inbox.done(first)
    assert inbox.blocked, "60 bytes left is above half the limit"
    second = inbox.pop()
    assert second is not None
    inbox.done(second)
    assert not inbox.blocked
    assert budget.used == 0


async def test_budget_blocks_every_inbox_until_half_drained() -> None:
    budget = BacklogBudget(100)
    a, b = Inbox(budget, limit=1000), Inbox(budget, limit=1000)
    a.put(b"x" * 100)
    assert a.blocked
    assert b.blocked, "the server-wide budget blocks every reader"
    waiter = asyncio.create_task(b.wait_room())
    await asyncio.sleep(0)
    assert not waiter.done()
    frame = a.pop()
    assert frame is not None
    a.done(frame)
    assert await asyncio.wait_for(waiter, scaled(1)) is True
    a.close()
    b.close()
    assert budget.used == 0


async def test_scheduler_serves_interactive_jobs_first_then_round_robin() -> None:
    order: list[str] = []
    gate = asyncio.Event()
    with ThreadPoolExecutor(max_workers=1) as executor:
        scheduler = FairScheduler(executor, slots=1)
        loop = asyncio.get_running_loop()

        def wait_for_the_gate() -> None:
            asyncio.run_coroutine_threadsafe(gate.wait(), loop).result()

        hog_a, hog_b, live = Tenant(), Tenant(), Tenant()
        blocker = asyncio.create_task(scheduler.run(hog_a, False, wait_for_the_gate))
        await asyncio.sleep(0.05)  # the only slot is taken, and hog_a was just served
        jobs = []
        for tenant, interactive, name in [
            (hog_a, False, "a"),
            (hog_b, False, "b"),
            (live, True, "live-1"),
            (live, True, "live-2"),
        ]:
            jobs.append(asyncio.create_task(scheduler.run(tenant, interactive, order.append, name)))
            await asyncio.sleep(0)
        cancelled = asyncio.create_task(scheduler.run(live, True, order.append, "cancelled"))
        await asyncio.sleep(0.05)
        cancelled.cancel()  # a waiter that gives up must not keep its place or a slot
        gate.set()
        await asyncio.wait_for(asyncio.gather(blocker, *jobs), scaled(5))
        await asyncio.wait_for(scheduler.run(hog_b, False, order.append, "after"), scaled(5))
    # Real-time first, in order; then the hog served longest ago (b was never served).
    assert order == ["live-1", "live-2", "b", "a", "after"]
