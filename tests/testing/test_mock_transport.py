"""MockTransport (the in-memory server end) and the transport seam the client talks through.

The mock keeps the transport contract a socket keeps (order, close after the frames sent
before it, redacted close reasons, congestion, unanswered pings when the peer stops
reading), so what a test proves in memory holds on the wire. The seam: a connection only
sees typed errors from its transport, and its watchdog judges a peer by the transport's
ping and backlog alone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

import funasr_realtime as fr
from funasr_realtime.client import ClientConfig, Connection
from funasr_realtime.client._liveness import Liveness
from funasr_realtime.client._transport import WebSocketTransport
from funasr_realtime.protocol import RecognitionParams
from funasr_realtime.testing import MockConnection, MockTransport, recognizer
from funasr_realtime.testing._link import ClientEnd, Link
from tests.conftest import chunks, load_speech
from tests.timing import scaled

FAST = fr.Timeouts(connect=1, task_started=1, stop=1, send=0.5, ping_interval=None)
NO_RETRY = fr.Resilience(max_retries=0, standby=False)
FRAME = b"\x00\x00" * 1600


async def echo_one_final(server: MockConnection) -> None:
    """Start the task, take the audio until finish-task, answer one final and finish."""
    await server.run_task()
    await server.start_task()
    audio = await server.audio_until_finish()
    await server.result(f"{len(audio)} bytes", final=True)
    await server.finish_task()


async def events_of(client: fr.Client, audio: bytes, **params: object) -> list[fr.StreamEvent]:
    async with client.stream(**params) as stream:
        reader = asyncio.create_task(collect(stream))
        for chunk in chunks(audio):
            await stream.send_audio(chunk)
        await stream.finish()
        return await reader


async def collect(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


def finals(events: list[fr.StreamEvent]) -> list[str]:
    return [e.sentence.text for e in events if isinstance(e, fr.SentenceEvent) and e.is_final]


async def start_then_stop_reading(server: MockConnection) -> None:
    """A peer that starts the task, then never reads again."""
    await server.run_task()
    await server.start_task()
    server.stop_reading()
    await server.wait_closed()


async def open_connection(mock: MockTransport, timeouts: fr.Timeouts = FAST) -> Connection:
    return await Connection.open(ClientConfig.resolve(transport=mock, timeouts=timeouts))


# ---------------------------------------------------------------------------- the mock server


async def test_a_scripted_server_sees_the_run_task_and_every_byte() -> None:
    async with MockTransport(echo_one_final) as mock:
        events = await events_of(fr.Client(transport=mock, resilience=NO_RETRY), FRAME * 5, language_hints=["en"])
    assert finals(events) == [f"{len(FRAME) * 5} bytes"]
    [run] = mock.run_tasks
    assert run.model == "fun-asr-realtime" and run.parameters["language_hints"] == ["en"]
    assert mock.connections[0].audio_bytes == len(FRAME) * 5
    assert mock.errors == []


def test_a_client_with_a_transport_needs_no_key_or_url() -> None:
    client = fr.Client(transport=MockTransport(echo_one_final))
    assert client.config.api_key is None and client.config.transport is not None
    with pytest.raises(fr.ConfigurationError, match="DASHSCOPE_API_KEY"):
        fr.Client()  # without one, the cloud endpoint still needs a key


async def test_without_a_handler_the_local_servers_synthetic_recognition_runs_in_memory() -> None:
    speech = load_speech("s1")
    events = await events_of(fr.Client(transport=MockTransport()), speech.pcm)
    [final] = [e for e in events if isinstance(e, fr.SentenceEvent) and e.is_final]
    assert final.sentence.text.startswith("[synthetic] ")
    assert final.usage is not None and final.usage.duration == 3, "billed like the server: whole seconds"
    [completed] = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert completed.metrics.audio_bytes == len(speech.pcm)


async def test_the_recognizer_fails_tasks_with_the_servers_codes() -> None:
    stream = fr.Client(transport=MockTransport(), resilience=NO_RETRY).stream(model="no-such-model")
    await stream.send_audio(FRAME)
    with pytest.raises(fr.TaskFailedError) as caught:
        await stream.finish()
    assert caught.value.error_code == "ModelNotFound"
    await stream.aclose()


class HeldEngine:
    """A real (non-synthetic) engine whose utterances' ``feed`` holds its worker thread until ``release``."""

    name = "held"
    synthetic = False

    def __init__(self) -> None:
        self.feeding = threading.Event()
        self.release = threading.Event()
        self.inside_feed = False
        self.closes = 0
        self.closed_inside_feed = False

    def new_utterance(self) -> HeldUtterance:
        return HeldUtterance(self)


class HeldUtterance:
    def __init__(self, engine: HeldEngine) -> None:
        self._engine = engine

    def feed(self, pcm16k: bytes) -> str:
        engine = self._engine
        engine.inside_feed = True
        engine.feeding.set()
        engine.release.wait(scaled(10))  # bounded: a failing test never leaves the thread behind
        engine.inside_feed = False
        return ""

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        return "", []

    def close(self) -> None:
        self._engine.closes += 1
        self._engine.closed_inside_feed |= self._engine.inside_feed


async def test_a_cancelled_recognizer_closes_the_task_only_once_its_worker_thread_is_out_of_the_engine() -> None:
    engine = HeldEngine()
    mock = MockTransport(recognizer(engine))
    connection = await open_connection(mock)
    try:
        task = await connection.start_task(RecognitionParams())
        for chunk in chunks(load_speech("s1").pcm):
            await task.send_audio(chunk)
        assert await asyncio.to_thread(engine.feeding.wait, scaled(5)), "speech reached the engine"
        stopping = asyncio.create_task(mock.aclose())  # cancels the handler while its thread is in feed
        done, _ = await asyncio.wait({stopping}, timeout=scaled(0.2))
        assert not done and engine.closes == 0, "the handler waits for the thread before closing the task"
    finally:
        engine.release.set()
    await stopping
    assert engine.closes >= 1 and not engine.closed_inside_feed
    await connection.aclose()


async def test_fail_task_is_a_typed_error_and_closes_the_connection() -> None:
    async def throttled(server: MockConnection) -> None:
        await server.run_task()
        await server.fail_task("Throttling.RateQuota", "Requests rate limit exceeded")

    async with MockTransport(throttled) as mock:
        stream = fr.Client(transport=mock, resilience=NO_RETRY).stream()
        await stream.send_audio(FRAME)
        with pytest.raises(fr.TaskFailedError) as caught:
            await stream.finish()
        await stream.aclose()
    assert caught.value.error_code == "Throttling.RateQuota" and fr.is_retryable(caught.value)
    assert mock.connections[0].close_code == 1000, "closed after task-failed, as the service does"


async def test_what_was_sent_before_a_close_arrives_before_it() -> None:
    async def final_then_close(server: MockConnection) -> None:
        await server.run_task()
        await server.start_task()
        await server.receive()
        await server.result("last words", final=True)
        await server.close(1011, "engine crashed")

    stream = fr.Client(transport=MockTransport(final_then_close), resilience=NO_RETRY).stream()
    seen: list[fr.StreamEvent] = []
    await stream.send_audio(FRAME)
    with pytest.raises(fr.ConnectionClosed) as caught:
        async for event in stream:
            seen.append(event)
    await stream.aclose()
    assert finals(seen) == ["last words"]
    assert (caught.value.code, caught.value.reason) == (1011, "engine crashed")


async def test_a_drop_is_a_close_without_a_code_and_a_close_reason_is_redacted() -> None:
    secret = "opaque-mock-key-" + "4c1d9e"

    async def echo_key_then_drop(server: MockConnection) -> None:
        await server.run_task()
        await server.start_task()
        await server.receive()
        if server is mock.connections[0]:
            await server.close(4001, f"bad key {secret}")
        else:
            server.drop()

    mock = MockTransport(echo_key_then_drop)
    errors: list[fr.FunAsrError] = []
    for _ in range(2):
        stream = fr.Client(transport=mock, api_key=SecretStr(secret), resilience=NO_RETRY).stream()
        await stream.send_audio(FRAME)
        with pytest.raises(fr.ConnectionClosed) as caught:
            await stream.finish()
        errors.append(caught.value)
        await stream.aclose()
    await mock.aclose()
    redacted, dropped = errors
    assert redacted.code == 4001 and secret not in redacted.reason and "bad key" in redacted.reason
    assert dropped.code is None and fr.is_retryable(dropped)


async def test_refused_opens_raise_the_given_error_then_connect() -> None:
    async with MockTransport(echo_one_final) as mock:
        mock.refuse(count=1)
        stream = fr.Client(transport=mock, resilience=NO_RETRY).stream()
        with pytest.raises(fr.ConnectError) as caught:
            await stream.connect()
        assert fr.is_retryable(caught.value)
        await stream.connect()  # the next open succeeds
        assert len(mock.connections) == 1
        await stream.aclose()


async def test_a_handler_that_raises_is_kept_and_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(server: MockConnection) -> None:
        await server.run_task()
        raise RuntimeError("a bug in the script")

    async with MockTransport(broken) as mock:
        connection = await open_connection(mock)
        with pytest.raises(fr.ConnectionClosed) as caught:
            await connection.start_task(RecognitionParams())
        await connection.aclose()
    assert caught.value.code == 1011
    assert [str(e) for e in mock.errors] == ["a bug in the script"]
    assert "a bug in the script" in caplog.text


async def test_a_server_that_stops_reading_congests_the_client_and_leaves_its_pings_unanswered() -> None:
    timeouts = fr.Timeouts(connect=1, task_started=1, send=0.5, ping_interval=0.1, ping_timeout=0.1)

    async with MockTransport(start_then_stop_reading) as mock:
        connection = await open_connection(mock, timeouts)
        task = await connection.start_task(RecognitionParams())
        accepted = 0
        while task.try_send_audio(FRAME):
            accepted += 1
        assert accepted > 0 and connection.congested, "the unread frames back the transport up"
        started = time.monotonic()
        async with asyncio.timeout(scaled(5)):
            await task.wait_done()
        await connection.aclose()
    assert isinstance(task.error, fr.TransportTimeout) and "pong" in str(task.error)
    assert time.monotonic() - started < scaled(1.0), "dead within ping_interval + ping_timeout + a tick"


async def test_resumed_reading_answers_the_pings_that_waited() -> None:
    link = Link()
    transport = ClientEnd(link)
    link.reading = False
    answered = transport.ping()
    await transport.send(b"x" * 1000)
    assert not answered() and transport.backlog() == 1000
    link.resume_reading()
    assert answered() and transport.backlog() == 0
    assert await link.to_server.get() == b"x" * 1000


# ---------------------------------------------------------------------------- the seam


async def test_a_send_the_peer_never_takes_times_out_with_the_send_bound() -> None:
    async with MockTransport(start_then_stop_reading) as mock:
        connection = await open_connection(mock)
        task = await connection.start_task(RecognitionParams())
        with pytest.raises(fr.TransportTimeout, match="send"):
            await task.send_audio(bytes(200_000))  # 13 frames: far over the write limit
        await connection.aclose()


class SendFails(ClientEnd):
    """A transport whose every send fails with an error of the funasr tree."""

    async def send(self, frame: str | bytes) -> None:
        raise fr.ConnectionClosed(1011, "send failed")


async def test_a_transport_whose_send_raises_fails_the_task_start_with_its_typed_error() -> None:
    connection = Connection(SendFails(Link()), ClientConfig.resolve(transport=MockTransport(echo_one_final)))
    with pytest.raises(fr.ConnectionClosed) as caught:
        await connection.start_task(RecognitionParams())
    assert (caught.value.code, caught.value.reason) == (1011, "send failed")
    await connection.aclose()


class RaisingSocket:
    """The part of a websockets connection that sends and receives, failing with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def send(self, frame: str | bytes) -> None:
        raise self.error

    async def recv(self) -> str:
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected", "text"),
    [
        (ConnectionClosedError(Close(1011, "engine crashed"), None), fr.ConnectionClosed, "engine crashed"),
        (ConnectionClosedError(None, None), fr.ConnectionClosed, "no close frame"),
        (OSError(104, "Connection reset by peer"), fr.ConnectError, "Connection reset by peer"),
    ],
    ids=["close-frame", "no-close-frame", "os-error"],
)
async def test_websocket_errors_cross_the_seam_translated(
    error: Exception, expected: type[fr.FunAsrError], text: str
) -> None:
    transport = WebSocketTransport(RaisingSocket(error))  # type: ignore[arg-type]
    with pytest.raises(expected, match=text) as caught:
        await transport.send(b"audio")
    assert caught.value.__cause__ is error, "the cause stays inspectable"
    if isinstance(error, ConnectionClosedError):
        with pytest.raises(expected, match=text):
            await transport.recv()


async def test_a_close_reason_carrying_the_key_is_not_chained() -> None:
    secret = SecretStr("opaque-seam-key-" + "8b2f6a")
    config = ClientConfig(url="ws://127.0.0.1/x", api_key=secret)  # registers it while held, as a client does
    error = ConnectionClosedError(Close(4001, f"key {secret.get_secret_value()}"), None)
    transport = WebSocketTransport(RaisingSocket(error))  # type: ignore[arg-type]
    with pytest.raises(fr.ConnectionClosed) as caught:
        await transport.recv()
    assert secret.get_secret_value() not in caught.value.reason
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert config.api_key is secret


class Quiet:
    """A transport that is open, never answers a ping and has ``backlog`` bytes queued."""

    def __init__(self) -> None:
        self.pings: list[Callable[[], bool]] = []
        self.queued = 0
        self.is_open = True
        self.congested = False

    def backlog(self) -> int:
        return self.queued

    def ping(self) -> Callable[[], bool]:
        self.pings.append(lambda: False)
        return self.pings[-1]


def test_an_unanswered_ping_through_the_seam_is_a_liveness_failure() -> None:
    now = [100.0]
    transport = Quiet()
    timeouts = fr.Timeouts(ping_interval=1, ping_timeout=1)
    liveness = Liveness(transport, timeouts, lambda: now[0], lambda _: None)  # type: ignore[arg-type]
    now[0] += 1.0
    assert liveness._check(1, 1) is None and len(transport.pings) == 1, "quiet for ping_interval: pinged"
    now[0] += 1.1
    error = liveness._check(1, 1)
    assert isinstance(error, fr.TransportTimeout) and "pong" in str(error)
