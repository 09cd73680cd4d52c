"""Bad input and misbehaving servers: each gives a clear typed error and nothing hangs.

Misbehaving servers are scripted in memory (client logic: no socket needed); what depends
on the wire (handshakes, refused connections, the real server's own failures) runs on
loopback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TypeVar

import pytest
from pydantic import SecretStr

import funasr_realtime as fr
from funasr_realtime.protocol import FinishTask
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import MockConnection
from tests.client.scripted import MockHandler, event, mock_client, result, started
from tests.conftest import GRAMMAR, chunks, load_speech

SECRET = "sk-test-0123456789abcdef"
FAST = fr.Timeouts(connect=2, task_started=0.5, stop=0.5, send=2, ping_interval=None)
NO_RETRY = fr.Resilience(max_retries=0)
E = TypeVar("E", bound=fr.FunAsrError)


async def drain(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [e async for e in stream]


# ---------------------------------------------------------------------------- local misuse


async def expect_stream_error(handler: MockHandler, expected: type[E], match: str | None = None) -> E:
    """Stream 100 ms of audio to a scripted server (no retry); return the error the stream raised."""
    stream = mock_client(handler, timeouts=FAST, resilience=NO_RETRY).stream()
    reader = asyncio.create_task(drain(stream))
    await stream.send_audio(b"\x00\x00" * 1600)
    try:
        with pytest.raises(expected, match=match) as caught:
            await asyncio.wait_for(reader, 5)
    finally:
        await stream.aclose()
    return caught.value


def test_wrong_rate_for_model_is_rejected_before_connecting() -> None:
    client = fr.Client(url="ws://127.0.0.1:9/api-ws/v1/inference")
    with pytest.raises(fr.ConfigurationError, match="16000 Hz"):
        client.stream(model="fun-asr-realtime", sample_rate=8000)


def test_8k_model_on_international_endpoint_is_rejected() -> None:
    client = fr.Client(region="intl", api_key="sk-x")
    with pytest.raises(fr.ConfigurationError, match="not served in region 'intl'"):
        client.stream(model="fun-asr-flash-8k-realtime", sample_rate=8000)


def test_cloud_endpoint_without_key_is_a_configuration_error() -> None:
    with pytest.raises(fr.ConfigurationError, match="DASHSCOPE_API_KEY"):
        fr.Client()


def test_unencrypted_remote_url_is_refused() -> None:
    with pytest.raises(fr.ConfigurationError, match="unencrypted"):
        fr.Client(url="ws://example.com/api-ws/v1/inference")


def test_insecure_opt_in_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = fr.Client(url="ws://example.com/api-ws/v1/inference", allow_insecure=True)
    assert client.config.url.startswith("ws://")
    assert "without TLS" in caplog.text


def test_environment_supplies_key_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
    monkeypatch.setenv("DASHSCOPE_WEBSOCKET_BASE_URL", "wss://dashscope.aliyuncs.com/api-ws/v1/inference")
    client = fr.Client()
    assert client.config.region is fr.Region.CN
    assert client.config.api_key is not None and client.config.api_key.get_secret_value() == SECRET
    assert SECRET not in repr(client) and SECRET not in repr(client.config)


async def test_odd_length_pcm_is_an_audio_error() -> None:
    stream = mock_client().stream()
    with pytest.raises(fr.AudioError, match="whole 16-bit samples"):
        await stream.send_audio(b"\x00\x01\x02")
    await stream.aclose()


async def test_send_after_finish_and_finish_twice() -> None:
    speech = load_speech("s1")
    stream = mock_client().stream()
    reader = asyncio.create_task(drain(stream))
    for chunk in chunks(speech.pcm):
        await stream.send_audio(chunk)
    await stream.finish()
    await stream.finish()  # idempotent, like close()
    with pytest.raises(fr.LocalProtocolError, match="stream is finished"):
        await stream.send_audio(b"\x00\x00")
    with pytest.raises(fr.LocalProtocolError, match="stream is finished"):
        await stream.finalize()
    assert any(isinstance(e, fr.TaskCompleted) for e in await reader)


async def test_wav_stream_rotates_on_finalize() -> None:
    """A container stream finalizes like PCM: the header stops at the client's converter."""
    speech = load_speech("long")
    wav = speech.path.read_bytes()
    split = len(wav) - len(speech.pcm) + 10_300 * 32  # header + 10.3 s: between sentences 3 and 4
    stream = mock_client().stream(format="wav", sample_rate=16000)
    reader = asyncio.create_task(drain(stream))
    for chunk in chunks(wav[:split], 3200):
        await stream.send_audio(chunk)
    await stream.finalize()
    for chunk in chunks(wav[split:], 3200):  # the same WAV stream goes on in the next task
        await stream.send_audio(chunk)
    await stream.finish()
    events = await reader
    finals = [e.sentence.text for e in events if isinstance(e, fr.SentenceEvent) and e.is_final]
    assert finals == list(speech.texts)
    assert [e.finalized for e in events if isinstance(e, fr.TaskCompleted)] == [True, True]


# ---------------------------------------------------------------------------- server says no


async def test_task_failed_at_start_raises_typed_error() -> None:
    stream = mock_client().stream(model="no-such-model")
    reader = asyncio.create_task(drain(stream))
    await stream.send_audio(b"\x00\x00" * 1600)
    with pytest.raises(fr.TaskFailedError) as caught:
        await stream.finish()
    assert caught.value.error_code == "ModelNotFound"
    assert caught.value.task_id
    assert not fr.is_retryable(caught.value)
    with pytest.raises(fr.TaskFailedError):
        await reader


async def test_task_failed_mid_stream_raises_typed_error() -> None:
    """The service's inactivity timeout is retried (a stalled client's audio still needs
    transcribing); once the retry budget is spent the stream raises the typed error."""
    speech = load_speech("s1")
    with ServerThread(ServerConfig(grammar=GRAMMAR, client_timeout=0.3)) as server:
        # One retry with a short backoff: the budget, not the machine's speed, ends the stream.
        resilience = fr.Resilience(max_retries=1, backoff_initial=0.01, backoff_max=0.01)
        stream = fr.Client(url=server.url, resilience=resilience).stream()
        reader = asyncio.create_task(drain(stream))
        await stream.send_audio(speech.pcm[:32000])
        with pytest.raises(fr.TaskFailedError) as caught:
            await asyncio.wait_for(reader, 10)
        assert caught.value.error_code == "CLIENT_ERROR"
        assert "request timeout" in caught.value.error_message
        with pytest.raises(fr.TaskFailedError):
            await stream.send_audio(b"\x00\x00")
        await stream.aclose()


async def test_bad_key_is_a_permanent_handshake_rejection(debug_logs: pytest.LogCaptureFixture) -> None:
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr("sk-right"))) as server:
        stream = fr.Client(url=server.url, api_key=SECRET).stream()
        with pytest.raises(fr.HandshakeRejected) as caught:
            await stream.connect()
        await stream.aclose()
    assert caught.value.status_code == 401
    assert not fr.is_retryable(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert "Authorization" in debug_logs.text, "the handshake was logged at DEBUG"
    assert SECRET not in debug_logs.text, "but the key was redacted"


async def test_right_key_is_accepted_and_never_logged(debug_logs: pytest.LogCaptureFixture) -> None:
    speech = load_speech("s6")
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr(SECRET))) as server:
        async with fr.Client(url=server.url, api_key=SECRET).stream() as stream:
            reader = asyncio.create_task(drain(stream))
            for chunk in chunks(speech.pcm):
                await stream.send_audio(chunk)
            await stream.finish()
            texts = [e.sentence.text for e in await reader if isinstance(e, fr.SentenceEvent) and e.is_final]
    assert texts == [speech.text]
    assert SECRET not in debug_logs.text


async def test_connection_refused_is_a_retryable_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stream = fr.Client(url=f"ws://127.0.0.1:{port}/api-ws/v1/inference", timeouts=FAST, resilience=NO_RETRY).stream()
    with pytest.raises(fr.ConnectError) as caught:
        await stream.connect()
    assert fr.is_retryable(caught.value)


# ---------------------------------------------------------------------------- misbehaving peers


async def test_malformed_server_json_is_a_remote_protocol_error() -> None:
    async def handler(server: MockConnection) -> None:
        await started(server)
        await server.receive()
        await server.send_text("{not json")
        await server.wait_closed()

    await expect_stream_error(handler, fr.RemoteProtocolError, "malformed server message")


async def test_unknown_event_is_a_remote_protocol_error() -> None:
    async def handler(server: MockConnection) -> None:
        task_id = await started(server)
        await server.send_text(event("surprise", task_id))
        await server.wait_closed()

    await expect_stream_error(handler, fr.RemoteProtocolError, "unknown server event 'surprise'")


async def test_silent_server_times_out_waiting_for_task_started() -> None:
    async def handler(server: MockConnection) -> None:
        await server.run_task()
        await server.wait_closed()

    error = await expect_stream_error(handler, fr.TransportTimeout, "task-started")
    assert fr.is_retryable(error)


async def test_server_that_never_finishes_makes_finish_time_out() -> None:
    async def handler(server: MockConnection) -> None:
        await started(server)
        await server.result("hello", final=False)
        await server.wait_closed()

    stream = mock_client(handler, timeouts=FAST, resilience=NO_RETRY).stream()
    reader = asyncio.create_task(drain(stream))
    await stream.send_audio(b"\x00\x00" * 1600)
    with pytest.raises(fr.TransportTimeout, match="task-finished"):
        await asyncio.wait_for(stream.finish(), 5)
    with pytest.raises(fr.TransportTimeout):
        await asyncio.wait_for(reader, 5)
    await stream.aclose()


async def test_server_closing_mid_task_reports_code_and_reason() -> None:
    async def handler(server: MockConnection) -> None:
        await started(server)
        await server.receive()
        await server.close(1011, "engine crashed")

    error = await expect_stream_error(handler, fr.ConnectionClosed)
    assert error.code == 1011 and error.reason == "engine crashed"
    assert fr.is_retryable(error)


async def test_heartbeat_results_are_dropped_and_sentence_end_is_finality() -> None:
    async def handler(server: MockConnection) -> None:
        task_id = await started(server)
        heartbeat = {"begin_time": 0, "end_time": None, "text": "", "heartbeat": True, "sentence_end": False}
        await server.send_text(event("result-generated", task_id, {"output": {"sentence": heartbeat}, "usage": None}))
        await server.send_text(result(task_id, "hello", final=False))
        # end_time set but sentence_end false: still a partial (sentence_end decides)
        partial = {"begin_time": 0, "end_time": 400, "text": "hello wor", "sentence_end": False}
        await server.send_text(event("result-generated", task_id, {"output": {"sentence": partial}, "usage": None}))
        await server.send_text(result(task_id, "hello world", final=True))
        while not isinstance(await server.receive(), FinishTask):
            pass
        await server.send_text(event("task-finished", task_id, {"output": {}, "usage": None}))

    async with mock_client(handler, timeouts=FAST, resilience=NO_RETRY).stream() as stream:
        reader = asyncio.create_task(drain(stream))
        await stream.send_audio(b"\x00\x00" * 1600)
        await asyncio.sleep(0.1)
        await stream.finish()
        events = await reader
    sentences = [e for e in events if isinstance(e, fr.SentenceEvent)]
    assert [(s.sentence.text, s.is_final) for s in sentences] == [
        ("hello", False),
        ("hello wor", False),
        ("hello world", True),
    ]


def test_wire_logger_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    from funasr_realtime.client._transport import WIRE_LOGGER

    caplog.set_level(logging.DEBUG, logger=WIRE_LOGGER.name)
    WIRE_LOGGER.debug("> %s: %s", "Authorization", f"Bearer {SECRET}")
    assert SECRET not in caplog.text and "[redacted]" in caplog.text
