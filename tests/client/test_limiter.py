"""The account's task quota on the client (client/limiter.py), against in-memory servers.

A handler that enforces the quota the way the service does (a token bucket per model,
task-failed ``Throttling.RateQuota`` over it) serves 100 streams that finalize every
second: the limiter keeps every run-task within the quota, finalizes that would wait too
long keep their task open, and every byte sent reaches a task. Then: which endpoints get a
quota by default, and a stream that is throttled anyway waits through it and loses nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

import funasr_realtime as fr
from funasr_realtime.client import ClientConfig, Transport
from funasr_realtime.client.limiter import DEFAULT_TASK_RATE, TaskLimiter, task_limiter
from funasr_realtime.protocol import Usage
from funasr_realtime.protocol.quota import TokenBucket
from funasr_realtime.testing import MockConnection, MockTransport
from tests.timing import scaled

RATE = 16000
FRAME = b"\x01\x00" * 1600  # 100 ms
_PORTS = itertools.count(random.randrange(20000, 40000))


def fresh_url() -> str:
    """A loopback URL no other test uses: the limiter's buckets are per endpoint, process-wide."""
    return f"ws://127.0.0.1:{next(_PORTS)}/api-ws/v1/inference"


@dataclass
class QuotaServer:
    """Serves tasks like the service, with its quota: a bucket per model, throttled run-tasks fail."""

    rate: float
    burst: int
    throttle_first: int = 0  # also throttle this many run-tasks, whatever the bucket says
    throttled: int = 0
    started: list[float] = field(default_factory=list)
    audio_bytes: int = 0
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    #: When the client wrote each run-task (by task id; see :class:`SendClock`). The quota is
    #: checked at that instant: the client's promise is about what it sends, and a delay after
    #: the write (here a stalled event loop, on the service the network) can bunch starts that
    #: left the client evenly spaced.
    sent_at: dict[str, float] = field(default_factory=dict)

    async def __call__(self, server: MockConnection) -> None:
        while True:
            run = await server.run_task()
            now = self.sent_at.pop(run.task_id, None) or time.monotonic()
            bucket = self._buckets.setdefault(run.model, TokenBucket(self.rate, self.burst, now))
            if self.throttle_first > 0 or not bucket.try_take(now):
                self.throttle_first = max(0, self.throttle_first - 1)
                self.throttled += 1
                await server.fail_task("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
                return
            self.started.append(now)
            await server.start_task()
            audio = await server.audio_until_finish()
            self.audio_bytes += len(audio)
            ms = len(audio) * 1000 // (2 * RATE)
            await server.result("words", final=True, end_time=max(ms, 1), usage=max(1, -(-ms // 1000)))
            await server.finish_task(Usage(duration=max(1, -(-ms // 1000))))


class SendClock(MockTransport):
    """A :class:`MockTransport` that notes in ``sent_at`` when the client writes each run-task."""

    def __init__(self, handler: QuotaServer) -> None:
        super().__init__(handler)
        self.sent_at = handler.sent_at

    async def open(self, config: ClientConfig) -> Transport:
        return _Stamped(await super().open(config), self.sent_at)


class _Stamped:
    """A client end that stamps run-tasks as they are written, and is otherwise the one it wraps."""

    def __init__(self, end: Transport, sent_at: dict[str, float]) -> None:
        self._end, self._sent_at = end, sent_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._end, name)

    async def send(self, frame: str | bytes) -> None:
        if isinstance(frame, str) and '"run-task"' in frame:
            self._sent_at[json.loads(frame)["header"]["task_id"]] = time.monotonic()
        await self._end.send(frame)


@dataclass
class Turns:
    """What one stream did: bytes sent, finalizes that rotated or stayed open, events."""

    sent: int = 0
    rotated: int = 0
    stayed_open: int = 0
    events: list[fr.StreamEvent] = field(default_factory=list)


async def talk(client: fr.Client, turns: int, started: float) -> Turns:
    """One agent: a second of audio per turn, finalize at the end of each, on the second."""
    done = Turns()
    async with client.stream(sample_rate=RATE) as stream:
        reader = asyncio.create_task(_collect(stream, done.events))
        for turn in range(turns):
            for _ in range(10):
                await stream.send_audio(FRAME)
                done.sent += len(FRAME)
            if await stream.finalize() is None:
                done.stayed_open += 1
            else:
                done.rotated += 1
            await asyncio.sleep(max(0.0, started + turn + 1 - time.monotonic()))
        await stream.finish()
        await reader
    return done


async def _collect(stream: fr.RecognitionStream, into: list[fr.StreamEvent]) -> None:
    async for event in stream:
        into.append(event)


async def test_a_hundred_streams_finalizing_every_second_stay_within_the_quota_and_lose_nothing() -> None:
    # The service's bucket is as strict as the client's (one start of slack), checked at the
    # instant each run-task was written (SendClock): a start the client itself delays never
    # breaks a token bucket, so "never throttled" is the outcome to assert, not how many starts
    # fall into some window of wall time. (A stall after the write could bunch starts the
    # client sent evenly: it broke this test once, in an idle CI run, with 9 of 400 throttled.)
    quota = QuotaServer(rate=20.0, burst=6)
    resilience = fr.Resilience(task_rate=20.0, task_burst=5)
    async with SendClock(quota) as mock:
        client = fr.Client(url=fresh_url(), transport=mock, resilience=resilience)
        started = time.monotonic()
        agents = await asyncio.wait_for(
            asyncio.gather(*(talk(client, 4, started) for _ in range(100))), timeout=scaled(60)
        )
        assert mock.errors == []
    assert quota.throttled == 0, "no run-task went over the quota"
    assert not any(isinstance(e, fr.Reconnected) for agent in agents for e in agent.events)
    sent = sum(agent.sent for agent in agents)
    completed = [e for agent in agents for e in agent.events if isinstance(e, fr.TaskCompleted)]
    assert sum(e.metrics.audio_bytes for e in completed) == sent == quota.audio_bytes, "every byte reached a task"
    for agent in agents:  # and each stream's tasks cover its own audio, end to end
        mine = [e for e in agent.events if isinstance(e, fr.TaskCompleted)]
        assert sum(e.metrics.audio_bytes for e in mine) == agent.sent
        assert mine[-1].end_ms == agent.sent * 1000 // (2 * RATE)
    assert sum(agent.stayed_open for agent in agents) > 0, "demand (100/s) was 5x the quota: some turns stayed open"
    assert sum(agent.rotated for agent in agents) > 0
    assert len(quota.started) == len(completed), "each task started once: no retry, no throttled attempt"


async def test_a_stream_that_is_throttled_anyway_waits_through_it_and_loses_nothing() -> None:
    # Two throttled run-tasks in a row: more than max_retries and longer than max_outage allow
    # for other failures, so only the throttling backoff carries the stream through.
    quota = QuotaServer(rate=100.0, burst=100, throttle_first=2)
    resilience = fr.Resilience(max_retries=1, max_outage=0.2, standby=False, task_rate=0)
    async with MockTransport(quota) as mock:
        client = fr.Client(url=fresh_url(), transport=mock, resilience=resilience)
        events: list[fr.StreamEvent] = []
        started = time.monotonic()
        async with client.stream(sample_rate=RATE) as stream:
            reader = asyncio.create_task(_collect(stream, events))
            for _ in range(20):
                await stream.send_audio(FRAME)
            await asyncio.wait_for(stream.finish(), timeout=scaled(20))
            await reader
        waited = time.monotonic() - started
    assert quota.throttled == 2
    reconnects = [e for e in events if isinstance(e, fr.Reconnected)]
    assert len(reconnects) == 1 and isinstance(reconnects[0].error, fr.TaskFailedError)
    assert reconnects[0].error.error_code == "Throttling.RateQuota" and reconnects[0].attempt == 2
    assert reconnects[0].dropped_ms == 0
    assert waited >= 1.5, "the throttling backoff (0.5-1 s, then 1-2 s), not the 0.1 s one"
    completed = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert sum(e.metrics.audio_bytes for e in completed) == 20 * len(FRAME) == quota.audio_bytes


async def test_every_start_waits_for_its_token_first_tasks_and_rotations_alike() -> None:
    quota = QuotaServer(rate=10.0, burst=10)
    resilience = fr.Resilience(task_rate=10.0, task_burst=2, standby=False)
    async with MockTransport(quota) as mock:
        client = fr.Client(url=fresh_url(), transport=mock, resilience=resilience)

        async def one() -> int:
            events: list[fr.StreamEvent] = []
            async with client.stream(sample_rate=RATE) as stream:
                reader = asyncio.create_task(_collect(stream, events))
                await stream.send_audio(FRAME)
                await stream.finish()
                await reader
            return sum(e.metrics.audio_bytes for e in events if isinstance(e, fr.TaskCompleted))

        started = time.monotonic()
        covered = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(8))), timeout=scaled(20))
    assert covered == [len(FRAME)] * 8
    assert quota.throttled == 0 and len(quota.started) == 8
    assert max(quota.started) - started >= 0.5, "two at once, then one per 0.1 s: the first tasks queued"


# --------------------------------------------------------------------------- which endpoints


def _limiter(
    url: str | None = None,
    *,
    transport: MockTransport | None = None,
    task_rate: float | None = None,
    task_burst: int = 10,
) -> TaskLimiter | None:
    config = fr.ClientConfig.resolve(url=url, api_key="k" * 8, transport=transport)
    return task_limiter(config, fr.Resilience(task_rate=task_rate, task_burst=task_burst))


def test_alibaba_cloud_endpoints_get_the_documented_quota_by_default() -> None:
    for url in (
        "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference",
        "wss://dashscope.aliyuncs.com/api-ws/v1/inference",
    ):
        limiter = _limiter(url)
        assert limiter is not None and limiter.rate == DEFAULT_TASK_RATE == 20.0
        assert limiter.burst == 10


def test_local_servers_and_custom_transports_get_none_unless_asked() -> None:
    assert _limiter("ws://127.0.0.1:8765/api-ws/v1/inference") is None
    assert _limiter(transport=MockTransport()) is None, "a custom transport decides for itself"
    asked = _limiter("ws://127.0.0.1:8765/api-ws/v1/inference", task_rate=5.0, task_burst=2)
    assert asked is not None and (asked.endpoint, asked.rate, asked.burst) == ("127.0.0.1:8765", 5.0, 2)
    assert _limiter("wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference", task_rate=0) is None, "0: off"


def test_every_client_of_the_process_shares_one_bucket_per_endpoint_and_model() -> None:
    url = fresh_url()
    first = _limiter(url, task_rate=20.0)
    second = _limiter(url, task_rate=20.0)
    assert first is not None and second is not None
    assert first.bucket("fun-asr-realtime") is second.bucket("fun-asr-realtime")
    assert first.bucket("fun-asr-realtime") is not first.bucket("paraformer-realtime-v2")


def test_a_bad_quota_is_refused_when_the_stream_is_made() -> None:
    with pytest.raises(fr.ConfigurationError):
        fr.Client(url=fresh_url(), resilience=fr.Resilience(task_rate=20.0, task_burst=0)).stream()


async def test_a_loop_stalled_past_the_reserved_slots_does_not_bunch_starts_beyond_the_burst() -> None:
    """Reserved slots that a stall made overdue go through the send gate: the service's
    bucket (capped at the burst however long the stall) admits every one of them."""
    limiter = TaskLimiter("stall.example:443", rate=20.0, burst=5)
    service = TokenBucket(20.0, 5, time.monotonic())
    admitted: list[bool] = []

    async def start() -> None:
        await limiter.take("stall-model")
        admitted.append(service.try_take(time.monotonic()))

    starts = [asyncio.create_task(start()) for _ in range(15)]
    await asyncio.sleep(0)  # every start has reserved: 5 go now, 10 have slots 50 ms apart
    time.sleep(0.7)  # the loop stalls past all of those slots  # noqa: ASYNC251
    await asyncio.wait_for(asyncio.gather(*starts), timeout=scaled(10))
    assert admitted == [True] * 15  # without the gate, 5 of the overdue 10 would be throttled
