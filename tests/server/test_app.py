"""The local server over a raw WebSocket: handshake, task lifecycle, failures, timers, limits."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from tests.conftest import GRAMMAR, SPEECH, Speech, chunks, load_speech
from tests.server.wire import (
    events_until_end,
    finals,
    finish_task,
    new_task_id,
    recv_event,
    run_task,
    sentences,
    start,
    stream,
    transcribe,
    wait_closed,
)
from tests.timing import scaled
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.server import LocalServer, ServerConfig
from funasr_realtime.server.engines import create_engine
from funasr_realtime.server.engines.pocketsphinx import PocketsphinxEngine
from funasr_realtime.server.thread import ServerThread

KEY = "k-test"


def _base(url: str) -> str:
    """``ws://host:port`` of a server URL."""
    return url.split("/api-ws/", 1)[0]


@pytest.fixture(scope="module")
def key_server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(engine="synthetic", api_key=SecretStr(KEY))) as server:
        yield server


def _assert_exact_task(events: list[dict], task_id: str, texts: tuple[str, ...]) -> None:
    assert events[-1]["header"]["event"] == "task-finished", events[-1]
    assert all(e["header"]["task_id"] == task_id for e in events)
    assert [s["text"] for s in finals(events)] == list(texts)


# --------------------------------------------------------------------------- handshake


@pytest.mark.parametrize("suffix", ["", "/", "?client=test"])
async def test_inference_path_is_accepted(grammar_server: ServerThread, suffix: str) -> None:
    async with connect(grammar_server.url + suffix) as ws:
        await start(ws, new_task_id())


@pytest.mark.parametrize("path", ["/", "/api-ws/v1/other", "/api-ws/v1/inference/extra", "/api-ws/v2/inference"])
async def test_other_paths_get_404(grammar_server: ServerThread, path: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(_base(grammar_server.url) + path):
            pass
    assert info.value.response.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
        [("Authorization", f"Bearer {KEY}"), ("Authorization", f"Bearer {KEY}")],
    ],
    ids=["missing", "wrong-key", "no-scheme", "basic", "repeated"],
)
async def test_bad_credentials_get_401(
    key_server: ServerThread, headers: dict[str, str] | list[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(key_server.url, additional_headers=headers):
            pass
    assert info.value.response.status_code == 401


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_right_key_is_accepted(key_server: ServerThread, scheme: str) -> None:
    async with connect(key_server.url, additional_headers={"Authorization": f"{scheme} {KEY}"}) as ws:
        await start(ws, new_task_id())


def test_non_loopback_host_needs_an_api_key() -> None:
    with pytest.raises(ConfigurationError):
        ServerConfig(host="0.0.0.0")
    with pytest.raises(ConfigurationError):
        ServerConfig(host="192.0.2.10")
    # With a key, or on loopback, the configuration is valid (nothing is bound here).
    ServerConfig(host="0.0.0.0", api_key=SecretStr(KEY))
    ServerConfig(host="localhost")
    ServerConfig(host="::1")


async def test_max_connections_refuses_with_503() -> None:
    async with LocalServer(ServerConfig(engine="synthetic", max_connections=1)) as server:
        async with connect(server.url) as first:
            await start(first, new_task_id())
            with pytest.raises(InvalidStatus) as info:
                async with connect(server.url):
                    pass
            assert info.value.response.status_code == 503
        # Once the first connection is gone its slot is free again.
        deadline = time.monotonic() + scaled(3.0)
        while True:
            try:
                async with connect(server.url) as again:
                    await start(again, new_task_id())
                break
            except InvalidStatus:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- recognition


async def test_full_lifecycle_and_connection_reuse(grammar_server: ServerThread) -> None:
    s1 = load_speech("s1")
    async with connect(grammar_server.url) as ws:
        task_id, events = await transcribe(ws, chunks(s1.pcm, 3200))
        _assert_exact_task(events, task_id, s1.texts)

        results = sentences(events)
        first_final = next(i for i, (s, _) in enumerate(results) if s["sentence_end"])
        partials = results[:first_final]
        assert partials, "expected at least one partial before the final"
        for sentence, usage in partials:
            assert sentence["end_time"] is None
            assert sentence["sentence_end"] is False
            assert sentence["heartbeat"] is False
            assert usage is None
            assert sentence["sentence_id"] == 1
        final, usage = results[first_final]
        assert final["sentence_end"] is True
        assert final["sentence_id"] == 1
        assert final["end_time"] is not None
        assert 0 <= final["begin_time"] < final["end_time"] <= s1.duration_ms
        assert usage is not None
        assert usage["duration"] >= 1
        words = final["words"]
        assert " ".join(w["text"] for w in words) == s1.text
        for word in words:
            assert final["begin_time"] <= word["begin_time"] <= word["end_time"] <= final["end_time"]
            assert word["punctuation"] == ""
        assert [w["begin_time"] for w in words] == sorted(w["begin_time"] for w in words)
        finished = events[-1]
        assert finished["payload"], "task-finished needs a non-empty payload (the SDK's on_complete)"

        # Same socket, new task id: the connection is reusable after task-finished.
        s3 = load_speech("s3")
        second_id, events = await transcribe(ws, chunks(s3.pcm, 3200))
        _assert_exact_task(events, second_id, s3.texts)
        assert [s["sentence_id"] for s in finals(events)] == [1]


async def test_long_recording_gives_ordered_sentences(grammar_server: ServerThread) -> None:
    long = load_speech("long")
    async with connect(grammar_server.url) as ws:
        task_id, events = await transcribe(ws, chunks(long.pcm, 3200))
    _assert_exact_task(events, task_id, long.texts)
    final_pairs = [(s, u) for s, u in sentences(events) if s["sentence_end"]]
    assert [s["sentence_id"] for s, _ in final_pairs] == [1, 2, 3, 4, 5, 6]
    ends = [s["end_time"] for s, _ in final_pairs]
    assert ends == sorted(ends)
    durations = [u["duration"] for _, u in final_pairs]
    assert durations == sorted(durations)
    assert durations[-1] == -(-long.duration_ms // 1000)


@pytest.mark.parametrize("model", ["fun-asr-flash-8k-realtime", "paraformer-realtime-8k-v2"])
async def test_8k_pcm(grammar_server: ServerThread, model: str) -> None:
    s2 = load_speech("s2", 8000)
    async with connect(grammar_server.url) as ws:
        task_id, events = await transcribe(ws, chunks(s2.pcm, 1600), model, sample_rate=8000)
    _assert_exact_task(events, task_id, s2.texts)
    final = finals(events)[0]
    assert final["end_time"] <= s2.duration_ms + 50  # times are in the 8 kHz audio's milliseconds


async def test_wav_file_streamed_with_its_header(grammar_server: ServerThread) -> None:
    s1 = load_speech("s1")
    data = s1.path.read_bytes()
    assert data[:4] == b"RIFF"
    async with connect(grammar_server.url) as ws:
        task_id, events = await transcribe(ws, chunks(data, 12800), format="wav")
    _assert_exact_task(events, task_id, s1.texts)


async def test_wav_rate_mismatch_fails_and_closes(grammar_server: ServerThread) -> None:
    data = (SPEECH / "s1_8k.wav").read_bytes()
    async with connect(grammar_server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id, format="wav", sample_rate=16000)
        await stream(ws, chunks(data, 12800))
        event = await recv_event(ws)
        assert event["header"]["event"] == "task-failed"
        assert event["header"]["error_code"] == "NO_VALID_AUDIO_ERROR"
        assert event["header"]["task_id"] == task_id
        closed = await wait_closed(ws)
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000


async def test_synthetic_engine_marks_its_finals() -> None:
    s1 = load_speech("s1")
    async with LocalServer(ServerConfig(engine="synthetic")) as server, connect(server.url) as ws:
        _, events = await transcribe(ws, chunks(s1.pcm, 3200))
    assert events[-1]["header"]["event"] == "task-finished"
    texts = [s["text"] for s in finals(events)]
    assert texts
    assert all(text.startswith("[synthetic]") for text in texts)
    assert s1.text not in texts


# --------------------------------------------------------------------------- task-failed


async def _expect_failure(ws: ClientConnection, task_id: str | None = None) -> dict:
    event = await recv_event(ws)
    assert event["header"]["event"] == "task-failed", event
    if task_id is not None:
        assert event["header"]["task_id"] == task_id
    assert event["payload"] == {}
    closed = await wait_closed(ws)
    assert closed.rcvd is not None, "the server must close the connection after task-failed"
    assert closed.rcvd.code == 1000
    return event["header"]


@pytest.mark.parametrize(
    ("model", "parameters", "code", "fragment"),
    [
        ("no-such-model", {}, "ModelNotFound", "no-such-model"),
        ("fun-asr-realtime", {"sample_rate": 8000}, "InvalidParameter", "16000"),
        ("fun-asr-realtime", {"max_sentence_silence": 50}, "InvalidParameter", "max_sentence_silence"),
        ("fun-asr-realtime", {"format": "flac"}, "InvalidParameter", "format"),
    ],
    ids=["unknown-model", "8k-on-16k-model", "silence-too-short", "not-a-service-format"],
)
async def test_run_task_rejected(
    grammar_server: ServerThread, model: str, parameters: dict, code: str, fragment: str
) -> None:
    async with connect(grammar_server.url) as ws:
        task_id = new_task_id()
        await ws.send(run_task(task_id, model, **parameters))
        header = await _expect_failure(ws, task_id)
    assert header["error_code"] == code
    assert fragment in header["error_message"]


async def test_audio_before_run_task_fails(grammar_server: ServerThread) -> None:
    async with connect(grammar_server.url) as ws:
        await ws.send(b"\x00" * 3200)
        await _expect_failure(ws)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps(
            {
                "header": {"action": "run-task", "task_id": "t1", "streaming": "duplex"},
                "payload": {"model": "fun-asr-realtime", "parameters": {"sample_rate": 16000, "format": "pcm"}},
            }
        ),
        '{"header": {"action": "dance", "task_id": "t1"}, "payload": {}}',
    ],
    ids=["malformed", "missing-input", "unknown-action"],
)
async def test_invalid_instruction_fails(grammar_server: ServerThread, text: str) -> None:
    async with connect(grammar_server.url) as ws:
        await ws.send(text)
        header = await _expect_failure(ws)
    assert "Invalid payload data" in header["error_message"]


async def test_finish_task_with_wrong_task_id_fails(grammar_server: ServerThread) -> None:
    async with connect(grammar_server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await ws.send(b"\x00" * 3200)
        await ws.send(finish_task(new_task_id()))
        await _expect_failure(ws, task_id)


async def test_second_run_task_while_running_fails(grammar_server: ServerThread) -> None:
    async with connect(grammar_server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await ws.send(run_task(new_task_id()))
        await _expect_failure(ws)


class _BrokenUtterance:
    def feed(self, pcm16k: bytes) -> str:
        raise RuntimeError("decoder exploded")

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        raise RuntimeError("decoder exploded")

    def close(self) -> None:
        pass


class _BrokenEngine:
    name = "broken"
    synthetic = False

    def new_utterance(self) -> _BrokenUtterance:
        return _BrokenUtterance()


async def test_engine_crash_becomes_task_failed() -> None:
    """Any server-side error is reported as task-failed (then close), not a bare 1011 close."""
    s1 = load_speech("s1")
    async with LocalServer(ServerConfig(), engine=_BrokenEngine()) as server, connect(server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await stream(ws, chunks(s1.pcm, 3200))
        header = await _expect_failure(ws, task_id)
    assert header["error_code"] == "InternalError"


# --------------------------------------------------------------------------- timers and limits


async def test_client_inactivity_fails_the_task() -> None:
    async with LocalServer(ServerConfig(engine="synthetic", client_timeout=0.5)) as server, connect(server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await ws.send(b"\x00" * 3200)
        started = time.monotonic()
        header = await _expect_failure(ws, task_id)
        elapsed = time.monotonic() - started
    assert header["error_code"] == "CLIENT_ERROR"
    assert header["error_message"] == "request timeout after 0.5 seconds."
    assert 0.4 <= elapsed < scaled(2.0)


async def test_client_timeout_counts_from_the_last_message() -> None:
    async with LocalServer(ServerConfig(engine="synthetic", client_timeout=0.5)) as server, connect(server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        for _ in range(5):  # 1.5 s in total, never 0.5 s without a message
            await ws.send(b"\x00" * 3200)
            await asyncio.sleep(0.3)
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws)
    assert events[-1]["header"]["event"] == "task-finished"


async def test_idle_connection_is_closed() -> None:
    async with LocalServer(ServerConfig(engine="synthetic", idle_timeout=0.5)) as server, connect(server.url) as ws:
        started = time.monotonic()
        closed = await wait_closed(ws, timeout=scaled(3.0))
        elapsed = time.monotonic() - started
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000
    assert 0.4 <= elapsed < scaled(2.0)


async def test_idle_timer_restarts_after_task_finished_but_not_during_a_task() -> None:
    config = ServerConfig(engine="synthetic", idle_timeout=0.5, client_timeout=5.0)
    async with LocalServer(config) as server, connect(server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await asyncio.sleep(1.0)  # longer than idle_timeout: a running task uses client_timeout
        await ws.send(b"\x00" * 3200)
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws)
        assert events[-1]["header"]["event"] == "task-finished"
        started = time.monotonic()
        closed = await wait_closed(ws, timeout=scaled(3.0))
        elapsed = time.monotonic() - started
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000
    assert elapsed < scaled(2.0)


@pytest.mark.parametrize("heartbeat", [True, False])
async def test_heartbeat_on_silence(grammar_server: ServerThread, heartbeat: bool) -> None:
    silence = b"\x00" * (4 * 16000 * 2)
    async with connect(grammar_server.url) as ws:
        _, events = await transcribe(ws, chunks(silence, 3200), heartbeat=heartbeat)
    assert events[-1]["header"]["event"] == "task-finished"
    results = sentences(events)
    beats = [(s, u) for s, u in results if s.get("heartbeat")]
    if heartbeat:
        assert beats
        for sentence, usage in beats:
            assert sentence["sentence_end"] is False
            assert sentence["end_time"] is None
            assert sentence["text"] == ""
            assert usage is None
    else:
        assert beats == []
    assert finals(events) == []


async def test_oversized_message_closes_with_1009() -> None:
    config = ServerConfig(engine="synthetic", max_message_bytes=64 * 1024)
    async with LocalServer(config) as server, connect(server.url) as ws:
        await start(ws, new_task_id())
        await ws.send(b"\x00" * (32 * 1024))  # within the limit
        await ws.send(b"\x00" * (64 * 1024 + 2))
        with pytest.raises(ConnectionClosed) as info:
            async with asyncio.timeout(5.0):
                while True:
                    await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009


async def test_shared_engine_serves_concurrent_tasks() -> None:
    """Two tasks at once on one engine: each gets its own exact transcript."""
    engine = create_engine("pocketsphinx", grammar=GRAMMAR)
    speeches = [load_speech("s4"), load_speech("s5")]

    async def one(url: str, speech: Speech) -> list[dict]:
        async with connect(url) as ws:
            task_id = new_task_id()
            await start(ws, task_id)
            for frame in chunks(speech.pcm, 3200):
                await ws.send(frame)
                await asyncio.sleep(0)
            await ws.send(finish_task(task_id))
            return await events_until_end(ws)

    async with LocalServer(ServerConfig(grammar=GRAMMAR), engine=engine) as server:
        results = await asyncio.gather(*(one(server.url, speech) for speech in speeches))
    for speech, events in zip(speeches, results, strict=True):
        assert [s["text"] for s in finals(events)] == list(speech.texts)


async def test_continue_task_is_accepted(grammar_server: ServerThread) -> None:
    s6 = load_speech("s6")
    context = {"context": [{"role": "user", "content": [{"type": "input_text", "text": "living room"}]}]}
    async with connect(grammar_server.url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        frames = list(chunks(s6.pcm, 3200))
        await stream(ws, frames[:5])
        await ws.send(
            json.dumps(
                {
                    "header": {"action": "continue-task", "task_id": task_id, "streaming": "duplex"},
                    "payload": {"input": context},
                }
            )
        )
        await stream(ws, frames[5:])
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws)
    _assert_exact_task(events, task_id, s6.texts)


async def test_stopping_the_server_closes_connections_with_1001() -> None:
    server = LocalServer(ServerConfig(engine="synthetic"))
    await server.start()
    try:
        async with connect(server.url) as ws:
            await start(ws, new_task_id())
            await server.stop()
            closed = await wait_closed(ws)
    finally:
        await server.stop()
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1001


async def test_client_disconnect_mid_sentence_returns_the_decoder() -> None:
    engine = PocketsphinxEngine(GRAMMAR)
    idle = engine.idle_decoders
    s1 = load_speech("s1")
    async with LocalServer(ServerConfig(grammar=GRAMMAR), engine=engine) as server:
        async with connect(server.url) as ws:
            await start(ws, new_task_id())
            await stream(ws, list(chunks(s1.pcm, 3200))[:15])  # stop in the middle of the sentence
            partial = await recv_event(ws)
            assert partial["header"]["event"] == "result-generated"
            assert engine.idle_decoders == idle - 1  # the open sentence holds a decoder
        for _ in range(150):  # the handler notices the close asynchronously
            if engine.idle_decoders >= idle:
                break
            await asyncio.sleep(0.02)
        assert engine.idle_decoders == idle, "the decoder of the abandoned sentence was not returned"
        # The same server still recognizes on a fresh connection.
        async with connect(server.url) as ws:
            task_id, events = await transcribe(ws, chunks(s1.pcm, 3200))
    _assert_exact_task(events, task_id, s1.texts)


async def test_api_keys_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret, wrong = "sk-local-secret-4f2a", "sk-wrong-secret-9c1d"
    async with LocalServer(ServerConfig(engine="synthetic", api_key=SecretStr(secret))) as server:
        async with connect(server.url, additional_headers={"Authorization": f"Bearer {secret}"}) as ws:
            await start(ws, new_task_id())
        with pytest.raises(InvalidStatus):
            async with connect(server.url, additional_headers={"Authorization": f"Bearer {wrong}"}):
                pass
    # Only the server's records: the test's own websockets client logs what it sends.
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client"))
    assert "authorization" in text.lower(), "expected the server's handshake debug logs"
    assert secret not in text
    assert wrong not in text
