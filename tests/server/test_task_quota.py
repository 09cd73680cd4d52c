"""The account's task quota over the wire: the local server enforces it, the client keeps to it.

``ServerConfig.task_rate`` makes the local server fail a run-task over the quota with
task-failed ``Throttling.RateQuota``, as the service does. Against it: streams without the
client's limiter are throttled; 30 streams with it, finalizing every second, never are and
lose nothing; and a stream throttled anyway waits through it and recovers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from tests.client.test_limiter import FRAME, RATE, talk
from tests.timing import scaled

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread


@pytest.fixture(scope="module")
def quota_server() -> Iterator[ServerThread]:
    """The synthetic engine (cheap), with the service's quota: 20 starts per second per model."""
    with ServerThread(ServerConfig(engine="synthetic", task_rate=20.0, task_burst=20)) as server:
        yield server


async def _one_task(client: fr.Client) -> fr.FunAsrError | None:
    stream = client.stream(sample_rate=RATE)
    try:
        await stream.send_audio(FRAME)
        await stream.finish()
    except fr.FunAsrError as exc:
        return exc
    finally:
        await stream.aclose()
    return None


async def test_the_server_fails_run_tasks_over_the_quota_with_throttling(quota_server: ServerThread) -> None:
    no_limit = fr.Resilience(max_retries=0, standby=False, task_rate=0)
    client = fr.Client(url=quota_server.url, resilience=no_limit)
    outcomes = await asyncio.wait_for(asyncio.gather(*(_one_task(client) for _ in range(40))), timeout=scaled(30))
    throttled = [e for e in outcomes if isinstance(e, fr.TaskFailedError)]
    assert throttled, "40 starts at once against a burst of 20"
    assert {(e.error_code, e.error_message) for e in throttled} == {
        ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
    }
    assert all(fr.classify(e) is fr.ErrorKind.RATE_LIMIT for e in throttled)
    assert sum(e is None for e in outcomes) >= 10, "the ones within the quota ran"
    await asyncio.sleep(1.5)  # the bucket refills before the next test


async def test_thirty_streams_finalizing_every_second_are_never_throttled(quota_server: ServerThread) -> None:
    client = fr.Client(url=quota_server.url, resilience=fr.Resilience(task_rate=20.0, task_burst=5))
    started = time.monotonic()
    agents = await asyncio.wait_for(asyncio.gather(*(talk(client, 3, started) for _ in range(30))), timeout=scaled(60))
    assert not any(isinstance(e, fr.Reconnected) for agent in agents for e in agent.events), "never throttled"
    for agent in agents:
        completed = [e for e in agent.events if isinstance(e, fr.TaskCompleted)]
        assert sum(e.metrics.audio_bytes for e in completed) == agent.sent, "every byte reached a task"
        assert completed[-1].end_ms == agent.sent * 1000 // (2 * RATE)
    assert sum(agent.rotated for agent in agents) > 0
    await asyncio.sleep(1.5)


async def test_a_throttled_stream_retries_with_the_long_backoff_and_recovers() -> None:
    # One start per second: the second of two streams started at once is throttled, and
    # its retry (after the throttling backoff) finds the quota refilled.
    config = ServerConfig(engine="synthetic", task_rate=1.0, task_burst=1)
    with ServerThread(config) as server:
        client = fr.Client(url=server.url, resilience=fr.Resilience(standby=False, task_rate=0))

        async def one() -> list[fr.StreamEvent]:
            events: list[fr.StreamEvent] = []
            async with client.stream(sample_rate=RATE) as stream:
                for _ in range(10):
                    await stream.send_audio(FRAME)
                await stream.finish()
                events = [event async for event in stream]
            return events

        results = await asyncio.wait_for(asyncio.gather(one(), one()), timeout=scaled(30))
    reconnects = [e for events in results for e in events if isinstance(e, fr.Reconnected)]
    assert len(reconnects) >= 1
    assert all(
        isinstance(r.error, fr.TaskFailedError) and r.error.error_code == "Throttling.RateQuota" for r in reconnects
    )
    assert all(r.dropped_ms == 0 for r in reconnects)
    for events in results:
        completed = [e for e in events if isinstance(e, fr.TaskCompleted)]
        assert sum(e.metrics.audio_bytes for e in completed) == 10 * len(FRAME), "nothing lost"
