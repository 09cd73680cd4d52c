"""``NO_INPUT_AUDIO_ERROR``: the service found no speech. A finished task ends with no final;
elsewhere the stream fails at once, without replaying (and re-billing) the same audio."""

from __future__ import annotations

import asyncio

import pytest

import funasr_realtime as fr
from funasr_realtime.testing import MockConnection, MockTransport
from tests.client.scripted import mock_client, started
from tests.timing import scaled

SILENCE = bytes(3200)  # 100 ms at 16 kHz
NO_SPEECH = ("NO_INPUT_AUDIO_ERROR", "no valid speech detected")


async def no_speech_at_finish(server: MockConnection) -> None:
    """Take the task's audio, then say it held no speech (as the service may at finish)."""
    await started(server)
    await server.audio_until_finish()
    await server.fail_task(*NO_SPEECH)


async def test_a_finished_task_with_no_speech_completes_without_a_final_and_the_stream_goes_on() -> None:
    transport = MockTransport(no_speech_at_finish)
    client = mock_client(transport)
    async with asyncio.timeout(scaled(10)):
        async with client.stream() as stream:
            for _ in range(5):
                await stream.send_audio(SILENCE)
            request = await stream.finalize()
            for _ in range(5):
                await stream.send_audio(SILENCE)
            await stream.finish()
            events = [event async for event in stream]
    completed = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert len(completed) == 2, "both tasks ended, neither failed the stream"
    assert request is not None and completed[0].request_id == request.request_id
    assert all(e.finalized for e in completed)
    assert not [e for e in events if isinstance(e, fr.SentenceEvent | fr.Reconnected)], "no retry, no replay"
    assert sum(len(c.run_tasks) for c in transport.connections) == 2, "each task started once"
    assert sum(c.audio_bytes for c in transport.connections) == 10 * len(SILENCE), "nothing sent twice"
    assert transport.errors == []


async def test_no_speech_while_the_task_is_open_ends_the_stream_without_a_retry() -> None:
    async def fail_mid_task(server: MockConnection) -> None:
        await started(server)
        await server.receive()  # the first audio frame
        await server.fail_task(*NO_SPEECH)

    transport = MockTransport(fail_mid_task)
    stream = mock_client(transport).stream()
    with pytest.raises(fr.TaskFailedError) as raised:
        async with asyncio.timeout(scaled(10)):
            async with stream:
                await stream.send_audio(SILENCE)  # the task stays open: no finalize, no finish
                async for _ in stream:
                    pass
    assert raised.value.error_code == "NO_INPUT_AUDIO_ERROR"
    assert fr.classify(raised.value) is fr.ErrorKind.NO_SPEECH and not fr.is_retryable(raised.value)
    assert sum(len(c.run_tasks) for c in transport.connections) == 1, "a permanent kind is never retried"
    with pytest.raises(fr.TaskFailedError):
        await stream.send_audio(SILENCE)  # the stream's error, not a silent drop
    assert transport.errors == []
