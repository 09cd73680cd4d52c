"""The synchronous audio write path (``Task.try_send_audio``), against real peers.

It writes through websockets' sans-I/O layer (``protocol.send_binary`` + ``send_data``),
which is public but undocumented: these tests are what tells an upgrade of websockets
broke it. Every refusal must leave nothing written, so the caller's fallback (the stream's
feeder, awaiting the ordinary send) neither loses nor repeats audio.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.server import ServerConnection

import funasr_realtime as fr
from funasr_realtime.client import ClientConfig, Connection, Task
from funasr_realtime.protocol import RecognitionParams
from funasr_realtime.server.thread import ServerThread
from tests.client.scripted import event, read_run_task, scripted
from tests.conftest import chunks, load_speech


async def _open(url: str) -> Connection:
    return await Connection.open(ClientConfig.resolve(url=url))


async def test_synchronous_writes_reach_the_server_whole_and_in_order(grammar_server: ServerThread) -> None:
    speech = load_speech("s1")
    connection = await _open(grammar_server.url)
    finals: list[str] = []
    task = await connection.start_task(
        RecognitionParams(), listener=lambda _task, r: finals.append(r.sentence.text) if r.sentence.is_final else None
    )
    for i, frame in enumerate(chunks(speech.pcm)):
        assert task.try_send_audio(frame), f"frame {i} was refused on a healthy, idle connection"
        if i % 10 == 9:
            await asyncio.sleep(0)  # let the reader run, as a real-time producer would
    metrics = await task.finish(timeout=10)
    await connection.aclose()
    assert finals == [speech.text], "the exact transcript proves every byte arrived, in order"
    assert metrics.audio_bytes == len(speech.pcm)
    assert metrics.first_package_delay_ms is not None


async def test_synchronous_writes_arrive_byte_exact() -> None:
    received: list[bytes] = []

    async def recorder(ws: ServerConnection) -> None:
        task_id = (await read_run_task(ws))["header"]["task_id"]
        await ws.send(event("task-started", task_id))
        while isinstance(frame := await ws.recv(), bytes):
            received.append(frame)
        await ws.send(event("task-finished", task_id))  # the frame was finish-task

    frames = [bytes([i]) * 3200 + i.to_bytes(2, "little") for i in range(50)]
    async with scripted(recorder) as url:
        connection = await _open(url)
        task = await connection.start_task(RecognitionParams())
        assert all(task.try_send_audio(frame) for frame in frames)
        await task.finish(timeout=5)
        await connection.aclose()
    assert received == frames, "one WebSocket message per frame, unchanged, in order"


async def test_refusals_write_nothing(grammar_server: ServerThread) -> None:
    connection = await _open(grammar_server.url)
    frame = bytes(3200)
    task = await connection.start_task(RecognitionParams())
    assert not task.try_send_audio(b""), "an empty frame means nothing to the service"
    assert not task.try_send_audio(bytes(connection.protocol.max_frame_bytes + 2)), "more than one frame"
    async with connection._send_lock:  # an awaited multi-frame send is in progress
        assert not task.try_send_audio(frame), "a synchronous write would interleave with it"
    assert task.metrics.audio_bytes == 0
    assert task.try_send_audio(frame)
    await task.finish(timeout=10)
    assert not task.try_send_audio(frame), "the task is finished"
    await connection.aclose()
    assert not task.try_send_audio(frame), "the connection is closed"
    assert task.metrics.audio_bytes == len(frame)


async def test_a_peer_that_stops_reading_makes_writes_fall_back() -> None:
    """Once the socket backs up, writes are refused (the feeder's bounded send takes over)."""
    stop = asyncio.Event()

    async def stalled(ws: ServerConnection) -> None:
        message = await read_run_task(ws)
        await ws.send(event("task-started", message["header"]["task_id"]))
        await stop.wait()  # never reads again: the kernel buffers fill, then ours
        ws.transport.abort()  # a closing handshake would wait behind the unread audio

    async with scripted(stalled) as url:
        connection = await _open(url)
        task = await connection.start_task(RecognitionParams())
        frame = bytes(connection.protocol.max_frame_bytes)
        accepted = 0
        for _ in range(5000):  # 80 MB at most; loopback buffers hold a few MB
            if not task.try_send_audio(frame):
                break
            accepted += 1
        else:
            pytest.fail("writes were never refused although the peer stopped reading")
        assert connection.congested
        assert task.metrics.audio_bytes == accepted * len(frame)
        stop.set()
        await connection.aclose()


async def test_a_failed_write_terminates_the_connection_and_fails_the_task(
    grammar_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = await _open(grammar_server.url)
    task = await connection.start_task(RecognitionParams())

    def broken_write() -> None:
        raise RuntimeError("transport refused the write")

    monkeypatch.setattr(connection._transport._ws, "send_data", broken_write)  # type: ignore[attr-defined]
    assert task.try_send_audio(bytes(3200)), "the audio is committed; the stream's replay covers it"
    async with asyncio.timeout(5):
        await task.wait_done()
    assert isinstance(task.error, fr.ConnectionClosed)
    assert not connection.alive


async def test_a_stream_streams_on_the_synchronous_path_once_its_task_runs(
    grammar_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the task starts, send_audio writes inline: no frame waits for the feeder."""
    speech = load_speech("s1")
    client = fr.Client(url=grammar_server.url)
    async with client.stream() as stream:
        frames = list(chunks(speech.pcm))
        await stream.send_audio(frames[0])
        for _ in range(500):  # bounded: 5 s
            if stream.connections and stream.connections[0].protocol.state.value == "streaming":
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the feeder sends the first frame, then hands over
        writes: list[bytes] = []
        original = Task.try_send_audio

        def spy(self: Task, data: bytes) -> bool:
            sent = original(self, data)
            if sent:
                writes.append(data)
            return sent

        with monkeypatch.context() as patch:
            patch.setattr(Task, "try_send_audio", spy)
            for frame in frames[1:]:
                await stream.send_audio(frame)
        await stream.finish()
        events = [e async for e in stream]
    assert writes == frames[1:]
    assert [e.sentence.text for e in events if isinstance(e, fr.SentenceEvent) and e.is_final] == [speech.text]
