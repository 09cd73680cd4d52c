"""Retry policy, replay limits, mutes and pre-warming, measured through the fault proxy."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import FaultProxy
from tests.conftest import GRAMMAR, chunks, load_speech
from tests.faults.scenarios import TIMEOUTS, long_outage, permanent_failure
from tests.timing import scaled


async def collect(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


def final_texts(events: list[fr.StreamEvent]) -> list[str]:
    return [e.sentence.text for e in events if isinstance(e, fr.SentenceEvent) and e.is_final]


async def test_injected_permanent_task_failure_is_not_retried(grammar_server: ServerThread) -> None:
    outcome = await permanent_failure(grammar_server.url)
    assert isinstance(outcome.error, fr.TaskFailedError)
    assert outcome.error.error_code == "InvalidApiKey"
    assert outcome.run_tasks == 1, "a permanent error is never retried"
    assert isinstance(outcome.error_on_send, fr.TaskFailedError)


async def test_handshake_401_is_not_retried(grammar_server: ServerThread) -> None:
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(401, count=5)
        stream = fr.Client(url=proxy.url, timeouts=TIMEOUTS, resilience=fr.Resilience(standby=False)).stream()
        await stream.send_audio(b"\x00\x00" * 1600)
        with pytest.raises(fr.HandshakeRejected) as caught:
            await asyncio.wait_for(stream.finish(), 5)
        assert caught.value.status_code == 401
        assert proxy.connections == 1


async def test_transient_handshake_failures_give_up_after_the_retry_budget(grammar_server: ServerThread) -> None:
    resilience = fr.Resilience(max_retries=3, backoff_initial=0.01, backoff_max=0.05, standby=False)
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(503, count=100)
        stream = fr.Client(url=proxy.url, timeouts=TIMEOUTS, resilience=resilience).stream()
        await stream.send_audio(b"\x00\x00" * 1600)
        started = time.monotonic()
        with pytest.raises(fr.HandshakeRejected) as caught:
            await asyncio.wait_for(stream.finish(), 10)
        assert caught.value.status_code == 503
        assert proxy.connections == 4, "one attempt and three retries"
        assert time.monotonic() - started < 2


async def test_an_outage_longer_than_max_outage_gives_up_on_time(grammar_server: ServerThread) -> None:
    resilience = fr.Resilience(max_retries=1000, max_outage=0.5, backoff_initial=0.05, backoff_max=0.1, standby=False)
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(503, count=1000)
        stream = fr.Client(url=proxy.url, timeouts=TIMEOUTS, resilience=resilience).stream()
        await stream.send_audio(b"\x00\x00" * 1600)
        started = time.monotonic()
        with pytest.raises(fr.HandshakeRejected):
            await asyncio.wait_for(stream.finish(), 10)
        assert 0.5 <= time.monotonic() - started < 2.0
        assert 3 < proxy.connections < 30


async def test_outage_longer_than_the_replay_buffer_reports_dropped_audio(grammar_server: ServerThread) -> None:
    """Black hole for ~3 s of real-time audio with a 1 s replay buffer: the loss is reported."""
    reconnects = await long_outage(grammar_server.url)
    assert reconnects, "the black hole was detected"
    assert sum(r.dropped_ms for r in reconnects) > 500, "the outage outlasted the 1 s buffer and says so"
    assert all(r.replayed_ms <= 1100 for r in reconnects)


async def test_long_mute_does_not_hit_the_server_inactivity_timeout() -> None:
    """The server fails a task after 1 s without messages; the client finishes idle tasks
    after 0.3 s, so a 2.5 s mute passes and speech after it is recognized in full."""
    first, second = load_speech("s1"), load_speech("s2")
    resilience = fr.Resilience(idle_finish=0.3)
    with ServerThread(ServerConfig(grammar=GRAMMAR, client_timeout=1.0)) as server:
        async with fr.Client(url=server.url, resilience=resilience).stream() as stream:
            reader = asyncio.create_task(collect(stream))
            for chunk in chunks(first.pcm, 16000):
                await stream.send_audio(chunk)
            await asyncio.sleep(2.5)  # muted: nothing is sent
            for chunk in chunks(second.pcm, 16000):
                await stream.send_audio(chunk)
            await stream.finish()
            events = await reader
    assert final_texts(events) == [first.text, second.text]
    completed = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert [c.finalized for c in completed] == [False, True], "the mute ended the first task, finish the second"
    assert stream.billed_seconds == 6, "only audio that was sent is billed (3 s + 3 s, rounded up per task)"


async def test_standby_connection_makes_rotation_handshake_free(grammar_server: ServerThread) -> None:
    """Three utterances, each finalized: two warm connections alternate, no handshake per rotation.

    Each utterance starts once the previous task completed (not after a fixed sleep, which a
    busy machine outlasts), so the returning connection and the standby are both warm.
    """
    speech = load_speech("s3")
    events: list[fr.StreamEvent] = []
    task_done = asyncio.Event()

    async def completed(count: int) -> None:
        async with asyncio.timeout(scaled(10)):
            while sum(isinstance(e, fr.TaskCompleted) for e in events) < count:
                task_done.clear()
                await task_done.wait()

    async with FaultProxy(grammar_server.url) as proxy:
        async with fr.Client(url=proxy.url).stream() as stream:

            async def read() -> None:
                async for event in stream:
                    events.append(event)
                    if isinstance(event, fr.TaskCompleted):
                        task_done.set()

            reader = asyncio.create_task(read())
            for n in range(3):
                for chunk in chunks(speech.pcm, 16000):
                    await stream.send_audio(chunk)
                await stream.finalize()
                await completed(n + 1)
            await stream.finish()
            await reader
        assert proxy.connections == 2, "two warm connections alternate; no handshake per rotation"
    metrics = [e.metrics for e in events if isinstance(e, fr.TaskCompleted)]
    assert final_texts(events) == [speech.text] * 3
    # A warm connection is handed over, not opened: far below one loopback handshake.
    assert all(m.acquire_ms is not None and m.acquire_ms < scaled(5) for m in metrics), [m.acquire_ms for m in metrics]


async def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    speech = load_speech("s4")
    with ServerThread(ServerConfig(grammar=GRAMMAR, idle_timeout=0.3)) as server:
        async with fr.Client(url=server.url).stream() as stream:
            reader = asyncio.create_task(collect(stream))
            await asyncio.sleep(1.0)  # the pre-warmed connection is closed by the server meanwhile
            for chunk in chunks(speech.pcm, 16000):
                await stream.send_audio(chunk)
            await stream.finish()
            events = await reader
    assert final_texts(events) == [speech.text]
    assert not any(isinstance(e, fr.Reconnected) for e in events), "a dead idle connection is not an outage"


async def test_wss_verifies_certificates() -> None:
    """wss:// is verified against the system's trust store: a certificate from an unknown
    authority is refused, not silently accepted."""
    authority = trustme.CA()
    server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(server_ssl)

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ssl=server_ssl) as tls_server:
        port = tls_server.sockets[0].getsockname()[1]
        client = fr.Client(url=f"wss://127.0.0.1:{port}/api-ws/v1/inference", resilience=fr.Resilience(max_retries=0))
        stream = client.stream()
        with pytest.raises(fr.ConnectError, match=r"(?i)certificate"):
            await stream.connect()
        await stream.aclose()


async def test_a_retried_task_keeps_its_parameters_while_updates_wait_for_the_next(
    grammar_server: ServerThread,
) -> None:
    first, second = load_speech("s5"), load_speech("s6")
    async with (
        FaultProxy(grammar_server.url) as proxy,
        fr.Client(url=proxy.url, timeouts=TIMEOUTS).stream(max_sentence_silence=900) as stream,
    ):
        reader = asyncio.create_task(collect(stream))
        for n, chunk in enumerate(chunks(first.pcm)):
            await stream.send_audio(chunk)
            if n == 10:
                await asyncio.sleep(0.2)
                stream.update_params(max_sentence_silence=700)  # for the next task only
                proxy.drop()
        await stream.finalize()
        for chunk in chunks(second.pcm):
            await stream.send_audio(chunk)
        await stream.finish()
        events = await reader
    assert final_texts(events) == [first.text, second.text]
    silences = sorted(p["max_sentence_silence"] for p in proxy.run_task_parameters)
    # The next segment may start on the second connection before the retry: order varies.
    assert silences == [700, 900, 900], "the replayed task kept 900; the next task got 700"


async def test_two_finalized_tasks_in_flight_then_a_pause_send_each_byte_once(grammar_server: ServerThread) -> None:
    """Regression: a finalized task completing while no segment was current reopened a
    segment over audio a later task already carried (sent and billed twice)."""
    first, second = load_speech("s1"), load_speech("s2")
    async with FaultProxy(grammar_server.url, latency=0.2) as proxy:
        stream = fr.Client(url=proxy.url).stream()
        await stream.connect()
        reader = asyncio.create_task(collect(stream))
        for chunk in chunks(first.pcm):
            await stream.send_audio(chunk)
        await stream.finalize()
        for chunk in chunks(second.pcm):
            await stream.send_audio(chunk)
        await stream.finalize()  # before the first finalize is answered
        await asyncio.sleep(1.5)  # then the user pauses
        await stream.finish()
        events = await reader
    assert final_texts(events) == [first.text, second.text]
    assert proxy.run_tasks == 2
    assert sum(m.audio_bytes for m in stream.completed) == len(first.pcm) + len(second.pcm)


@pytest.mark.parametrize("attempt", range(5))
async def test_injected_events_arrive_whole_while_partials_stream(grammar_server: ServerThread, attempt: int) -> None:
    """The proxy injects between two server frames, never inside one."""
    speech = load_speech("s3")
    async with FaultProxy(grammar_server.url) as proxy:
        stream = fr.Client(url=proxy.url, timeouts=TIMEOUTS, resilience=fr.Resilience(max_retries=0)).stream()
        reader = asyncio.create_task(collect(stream))
        for n, chunk in enumerate(chunks(speech.pcm, 1600)):
            await stream.send_audio(chunk)
            await asyncio.sleep(0.02)  # 50 ms of audio per 20 ms: the server streams partials back
            if n == 20 + attempt:
                assert proxy.run_tasks == 1, "the task is running when the fault strikes"
                proxy.inject_task_failed(
                    "Arrearage", "Access denied, please make sure your account is in good standing."
                )
                break
        with pytest.raises(fr.TaskFailedError) as caught:
            await asyncio.wait_for(reader, 5)
        assert caught.value.error_code == "Arrearage"
        await stream.aclose()
