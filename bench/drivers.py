"""N concurrent real-time streams through one client, in the worker process.

The same load for both clients, each written the way its users write it:

* ours: one asyncio task per stream (``send_audio`` then sleep until the next frame is
  due) and one reader task per stream iterating its events;
* the official SDK 2.0.2: one thread per stream calling ``send_audio_frame`` then
  ``time.sleep`` until the next frame is due (its own examples do this), results through
  its callbacks (on its worker threads).

Streams start staggered evenly over ``ramp_s`` (default: one frame period, so real calls do
not tick in phase; a longer ramp is calls arriving over that time, not all at once).
Each frame is 100 ms of 16 kHz audio: fixture speech (so a real or synthetic engine has
something to recognize) with a stamp in its first 12 bytes (read by the stub server).

Figures, per run:

* ``cpu_s``: CPU time (user+sys, all threads) of this process while the audio streamed,
  i.e. from the first frame due to the last frame handed in (steady state); ``session_cpu_s``
  adds connecting before and finishing after;
* ``send_lag``: per frame, when the client's send call *returned* minus when the frame was
  due (ms). For the SDK the call only queues the frame; the stub server's delivery lag
  (due → read by the server) is the figure comparable between clients.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .common import (
    FRAME_BYTES,
    FRAME_S,
    STAMP_BYTES,
    cpu_seconds,
    involuntary_switches,
    percentile,
    rss_bytes,
    summary,
)

_SPEECH: list[bytes] = []


def speech_frames() -> list[bytes]:
    """100 ms frames of the 20 s fixture recording (speech and pauses, as a caller talks)."""
    if not _SPEECH:
        from tests.conftest import chunks, load_speech

        pcm = load_speech("long").pcm
        _SPEECH.extend(c for c in chunks(pcm, FRAME_BYTES) if len(c) == FRAME_BYTES)
    return _SPEECH


def frame_at(index: int, due_ns: int) -> bytes:
    """Frame ``index`` of the looped speech, stamped with its due time."""
    from .common import stamped_frame

    speech = speech_frames()
    return stamped_frame(due_ns, STAMP_BYTES) + speech[index % len(speech)][STAMP_BYTES:]


def mark_streaming() -> None:
    """Tell a profiler waiting outside (``run_worker(profile=...)``) that the steady state began."""
    marker = os.environ.get("BENCH_STREAMING_MARKER")
    if marker:
        open(marker, "w").close()


def _lag_summary(lags_ms: Sequence[float]) -> dict[str, float]:
    return summary(lags_ms)


async def _paced(
    send: Callable[[bytes], object], frames: int, *, start: float, start_ns: int, phase: float, lags: list[float]
) -> None:
    """Hand ``frames`` stamped frames to ``send`` at real time from ``start + phase``; each
    frame's lag (send returned minus due, ms) goes to ``lags``. ``send`` may be a coroutine
    function (awaited) or a plain one (picows writes synchronously: nothing to await)."""
    loop = asyncio.get_running_loop()
    for n in range(frames):
        due = start + phase + n * FRAME_S
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = send(frame_at(n, start_ns + int((phase + n * FRAME_S) * 1e9)))
        if inspect.isawaitable(sent):
            await sent
        lags.append((loop.time() - due) * 1000)


# --------------------------------------------------------------------------- ours


async def ours(  # noqa: PLR0915  (one linear scenario: connect, stream, finish)
    url: str,
    streams: int,
    seconds: float,
    *,
    standby: bool = True,
    connect_batch: int = 50,
    settle_s: float = 0.5,
    finish_timeout: float = 20.0,
    noop: bool = False,
    ramp_s: float = FRAME_S,
    gc_freeze: bool = False,
    transport: str | None = None,
) -> dict[str, Any]:
    """Run ``streams`` real-time streams of ``seconds`` each through one :class:`Client`.

    ``transport``: the client's transport by name (``"picows"``); None is the default.

    ``noop``: the same tasks and pacing with a send that does nothing and no client: the
    cost of the benchmark's own pacing loop (the floor subtracted to get the client's cost).
    """
    import funasr_realtime as fr

    if noop:
        return await _noop_async(streams, seconds, settle_s)

    loop = asyncio.get_running_loop()
    speech_frames()
    rss_start = rss_bytes()
    session_cpu = cpu_seconds()
    client = fr.Client(url=url, resilience=fr.Resilience(standby=standby), transport=transport)
    all_streams = [client.stream() for _ in range(streams)]
    counts = {"partials": 0, "finals": 0, "reconnects": 0, "errors": 0, "connect_errors": 0}
    errors: list[str] = []

    connect_started = time.monotonic()
    for at in range(0, streams, connect_batch):
        outcomes = await asyncio.gather(
            *(s.connect() for s in all_streams[at : at + connect_batch]), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                counts["connect_errors"] += 1
                errors.append(repr(outcome))
    connect_s = time.monotonic() - connect_started

    async def read(stream: fr.RecognitionStream) -> None:
        try:
            async for event in stream:
                if isinstance(event, fr.SentenceEvent):
                    counts["finals" if event.is_final else "partials"] += 1
                elif isinstance(event, fr.Reconnected):
                    counts["reconnects"] += 1
        except fr.FunAsrError as exc:
            counts["errors"] += 1
            errors.append(repr(exc))

    frames = round(seconds / FRAME_S)
    lags: list[float] = []
    by_second: list[list[float]] = [[] for _ in range(math.ceil(seconds + ramp_s))]
    start = loop.time() + settle_s
    start_ns = time.monotonic_ns() + int(settle_s * 1e9)

    async def send(stream: fr.RecognitionStream, phase: float) -> None:
        for n in range(frames):
            due = start + phase + n * FRAME_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = frame_at(n, start_ns + int((phase + n * FRAME_S) * 1e9))
            try:
                await stream.send_audio(frame)
            except fr.FunAsrError as exc:
                counts["errors"] += 1
                errors.append(repr(exc))
                return
            lag = (loop.time() - due) * 1000
            lags.append(lag)
            by_second[min(int(phase + n * FRAME_S), len(by_second) - 1)].append(lag)

    readers = [asyncio.create_task(read(s)) for s in all_streams]
    if gc_freeze:  # what an application may do once set up: move everything so far out of the GC's sight
        gc.collect()
        gc.freeze()
    gc_pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                gc_pauses.append((time.perf_counter() - gc_started[0]) * 1000)

    gc.callbacks.append(on_gc)
    await asyncio.sleep(max(0.0, start - loop.time() - 0.05))
    mark_streaming()
    cpu = cpu_seconds()
    wall = time.monotonic()
    await asyncio.gather(*(send(s, i * ramp_s / streams) for i, s in enumerate(all_streams)))
    stream_cpu = cpu_seconds() - cpu
    stream_wall = time.monotonic() - wall
    gc.callbacks.remove(on_gc)
    rss_peak = rss_bytes()

    async def finish(stream: fr.RecognitionStream) -> None:
        try:
            await stream.finish(timeout=finish_timeout)
        except fr.FunAsrError as exc:
            counts["errors"] += 1
            errors.append(repr(exc))
        finally:
            await stream.aclose()

    await asyncio.gather(*(finish(s) for s in all_streams))
    await asyncio.gather(*readers)
    return {
        "client": "ours",
        "streams": streams,
        "audio_s": frames * FRAME_S,
        "cpu_s": stream_cpu,
        "wall_s": stream_wall,
        "session_cpu_s": cpu_seconds() - session_cpu,
        "connect_s": connect_s,
        "send_lag": _lag_summary(lags),
        "send_lag_p99_by_second": [percentile(b, 99) for b in by_second],
        "gc_full_collections_ms": gc_pauses,
        "frames_sent": len(lags),
        "frames_planned": frames * streams,
        "rss_start": rss_start,
        "rss_peak": rss_peak,
        "threads": threading.active_count(),
        "involuntary_switches": involuntary_switches(),
        **counts,
        "error_samples": errors[:5],
    }


async def _noop_async(streams: int, seconds: float, settle_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    speech_frames()
    frames = round(seconds / FRAME_S)
    lags: list[float] = []
    start = loop.time() + settle_s
    start_ns = time.monotonic_ns() + int(settle_s * 1e9)
    sink: list[bytes] = []

    def send(frame: bytes) -> None:
        sink.append(frame)
        sink.clear()

    await asyncio.sleep(max(0.0, start - loop.time() - 0.05))
    cpu = cpu_seconds()
    wall = time.monotonic()
    await asyncio.gather(
        *(
            _paced(send, frames, start=start, start_ns=start_ns, phase=i * FRAME_S / streams, lags=lags)
            for i in range(streams)
        )
    )
    return _noop_result("ours-noop", streams, frames, cpu=cpu, wall=wall, lags=lags)


def _noop_result(name: str, streams: int, frames: int, *, cpu: float, wall: float, lags: list[float]) -> dict[str, Any]:
    return {
        "client": name,
        "streams": streams,
        "audio_s": frames * FRAME_S,
        "cpu_s": cpu_seconds() - cpu,
        "wall_s": time.monotonic() - wall,
        "send_lag": _lag_summary(lags),
        "frames_sent": len(lags),
        "frames_planned": frames * streams,
        "threads": threading.active_count(),
    }


def _noop_threads(streams: int, seconds: float, settle_s: float) -> dict[str, Any]:
    speech_frames()
    frames = round(seconds / FRAME_S)
    lags: list[list[float]] = [[] for _ in range(streams)]
    start = time.monotonic() + settle_s
    start_ns = time.monotonic_ns() + int(settle_s * 1e9)

    def send(index: int) -> None:
        phase = index * FRAME_S / streams
        sink: list[bytes] = []
        for n in range(frames):
            due = start + phase + n * FRAME_S
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sink.append(frame_at(n, start_ns + int((phase + n * FRAME_S) * 1e9)))
            sink.clear()
            lags[index].append((time.monotonic() - due) * 1000)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(streams)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start - time.monotonic() - 0.05))
    cpu = cpu_seconds()
    wall = time.monotonic()
    for thread in threads:
        thread.join()
    return _noop_result("sdk-noop", streams, frames, cpu=cpu, wall=wall, lags=[lag for per in lags for lag in per])


# --------------------------------------------------------------------------- bare websockets


async def websockets_floor(url: str, streams: int, seconds: float, *, settle_s: float = 0.5) -> dict[str, Any]:
    """The same load on bare ``websockets`` connections: no client at all, only the socket.

    Each stream is one ``websockets.connect`` that sends run-task, then the audio frames
    with ``ws.send``; a reader per connection drains results. The lower bound for any
    client built on ``websockets`` (what it costs to be a WebSocket endpoint at all).
    """
    import websockets

    from funasr_realtime.protocol import ClientProtocol, RecognitionParams

    loop = asyncio.get_running_loop()
    speech_frames()
    counts = {"partials": 0, "finals": 0, "errors": 0, "connect_errors": 0}
    connections = []
    for _ in range(streams):
        ws = await websockets.connect(url, compression=None)
        protocol = ClientProtocol()
        await ws.send(protocol.run_task(RecognitionParams()))
        protocol.receive_text(await ws.recv())  # task-started
        protocol.send_audio(b"")  # (the state table: audio may follow)
        connections.append((ws, protocol))

    async def read(ws: Any) -> None:
        try:
            async for _ in ws:
                counts["partials"] += 1
        except websockets.ConnectionClosed:
            pass

    readers = [asyncio.create_task(read(ws)) for ws, _ in connections]
    frames = round(seconds / FRAME_S)
    lags: list[float] = []
    start = loop.time() + settle_s
    start_ns = time.monotonic_ns() + int(settle_s * 1e9)

    await asyncio.sleep(max(0.0, start - loop.time() - 0.05))
    cpu = cpu_seconds()
    wall = time.monotonic()
    await asyncio.gather(
        *(
            _paced(ws.send, frames, start=start, start_ns=start_ns, phase=i * FRAME_S / streams, lags=lags)
            for i, (ws, _) in enumerate(connections)
        )
    )
    result = _noop_result("websockets", streams, frames, cpu=cpu, wall=wall, lags=lags)
    for ws, protocol in connections:
        await ws.send(protocol.finish_task())
        await ws.close()
    await asyncio.gather(*readers)
    return {**result, **counts, "involuntary_switches": involuntary_switches()}


async def picows_floor(url: str, streams: int, seconds: float, *, settle_s: float = 0.5) -> dict[str, Any]:
    """:func:`websockets_floor` on bare ``picows`` connections: the floor of the fast transport.

    A listener per connection counts results; frames are written with ``WSTransport.send``
    (picows writes synchronously: nothing to await).
    """
    import picows

    from funasr_realtime.protocol import ClientProtocol, RecognitionParams

    loop = asyncio.get_running_loop()
    speech_frames()
    counts = {"partials": 0, "finals": 0, "errors": 0, "connect_errors": 0}

    class Reader(picows.WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.started: asyncio.Future[str] = loop.create_future()
            self.gone: asyncio.Future[None] = loop.create_future()

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type is picows.WSMsgType.TEXT:
                text = frame.get_payload_as_utf8_text()
                if not self.started.done():
                    self.started.set_result(text)
                else:
                    counts["partials"] += 1
            elif frame.msg_type is picows.WSMsgType.CLOSE:
                transport.disconnect()

        def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
            if not self.gone.done():
                self.gone.set_result(None)

    connections = []
    for _ in range(streams):
        ws, reader = await picows.ws_connect(Reader, url, use_aiofastnet=False)
        protocol = ClientProtocol()
        ws.send(picows.WSMsgType.TEXT, protocol.run_task(RecognitionParams()))
        protocol.receive_text(await reader.started)  # task-started
        protocol.send_audio(b"")
        connections.append((ws, reader, protocol))

    frames = round(seconds / FRAME_S)
    lags: list[float] = []
    start = loop.time() + settle_s
    start_ns = time.monotonic_ns() + int(settle_s * 1e9)

    await asyncio.sleep(max(0.0, start - loop.time() - 0.05))
    cpu = cpu_seconds()
    wall = time.monotonic()
    await asyncio.gather(
        *(
            _paced(
                functools.partial(ws.send, picows.WSMsgType.BINARY),
                frames,
                start=start,
                start_ns=start_ns,
                phase=i * FRAME_S / streams,
                lags=lags,
            )
            for i, (ws, _, _) in enumerate(connections)
        )
    )
    result = _noop_result("picows", streams, frames, cpu=cpu, wall=wall, lags=lags)
    for ws, _, protocol in connections:
        ws.send(picows.WSMsgType.TEXT, protocol.finish_task())
        ws.send_close(picows.WSCloseCode.OK)
    for ws, reader, _ in connections:
        try:
            await asyncio.wait_for(reader.gone, 5)
        except TimeoutError:
            ws.disconnect(False)
    return {**result, **counts, "involuntary_switches": involuntary_switches()}


# --------------------------------------------------------------------------- the official SDK


def sdk(  # noqa: PLR0915  (one linear scenario: start, stream, stop)
    url: str,
    streams: int,
    seconds: float,
    *,
    settle_s: float = 1.0,
    stop_timeout: float = 30.0,
    noop: bool = False,
    ramp_s: float = FRAME_S,
    compat: bool = False,
) -> dict[str, Any]:
    """Run ``streams`` real-time streams through ``dashscope.audio.asr.Recognition`` (one each).

    ``noop``: the same sender threads and pacing with no SDK (the harness floor).
    ``compat``: the same program on ``funasr_realtime.compat`` (only the imports change).
    """
    if noop:
        return _noop_threads(streams, seconds, settle_s)
    if compat:
        import funasr_realtime.compat as dashscope
        from funasr_realtime.compat import Recognition, RecognitionCallback, RecognitionResult
    else:
        import dashscope
        from dashscope.audio.asr import Recognition, RecognitionCallback, RecognitionResult

    dashscope.base_websocket_api_url = url
    dashscope.api_key = "x"
    lock = threading.Lock()
    counts = {"partials": 0, "finals": 0, "errors": 0, "connect_errors": 0, "stop_timeouts": 0}
    errors: list[str] = []

    class Callback(RecognitionCallback):
        def on_event(self, result: RecognitionResult) -> None:
            sentence: Any = result.get_sentence()
            final = RecognitionResult.is_sentence_end(sentence)
            with lock:
                counts["finals" if final else "partials"] += 1

        def on_error(self, result: RecognitionResult) -> None:
            with lock:
                counts["errors"] += 1
                errors.append(f"{result.status_code} {result.code} {result.message}"[:200])

    speech_frames()
    session_cpu = cpu_seconds()
    rss_start = rss_bytes()
    recognitions = []
    for _ in range(streams):
        recognition: Any = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=Callback())
        try:
            recognition.start()
        except Exception as exc:  # the SDK raises its own exception types
            counts["connect_errors"] += 1
            errors.append(repr(exc)[:200])
            continue
        recognitions.append(recognition)

    frames = round(seconds / FRAME_S)
    lags: list[list[float]] = [[] for _ in recognitions]
    peak_threads = threading.active_count()
    start = time.monotonic() + settle_s
    start_ns = time.monotonic_ns() + int(settle_s * 1e9)
    sent = [0]  # senders done sending
    may_stop = threading.Event()  # stop() only once every stream has sent: a clean window

    def send(index: int, recognition: Any) -> None:
        phase = index * ramp_s / max(1, len(recognitions))
        mine = lags[index]
        try:
            for n in range(frames):
                due = start + phase + n * FRAME_S
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                recognition.send_audio_frame(frame_at(n, start_ns + int((phase + n * FRAME_S) * 1e9)))
                mine.append((time.monotonic() - due) * 1000)
        except Exception as exc:
            with lock:
                counts["errors"] += 1
                errors.append(repr(exc)[:200])
        finally:
            with lock:
                sent[0] += 1
            may_stop.wait(timeout=seconds + settle_s + 60)
        try:
            recognition.stop()
        except Exception as exc:
            with lock:
                counts["errors"] += 1
                errors.append(repr(exc)[:200])

    senders = [
        threading.Thread(target=send, args=(i, r), daemon=True, name=f"bench-sender-{i}")
        for i, r in enumerate(recognitions)
    ]
    for thread in senders:
        thread.start()
    time.sleep(max(0.0, start - time.monotonic() - 0.05))
    mark_streaming()
    cpu = cpu_seconds()
    wall = time.monotonic()
    while sent[0] < len(senders) and time.monotonic() - wall < seconds + settle_s + 60:
        time.sleep(0.2)  # and sample the thread count meanwhile
        peak_threads = max(peak_threads, threading.active_count())
    stream_cpu = cpu_seconds() - cpu
    stream_wall = time.monotonic() - wall
    rss_peak = rss_bytes()
    may_stop.set()
    deadline = time.monotonic() + stop_timeout
    for thread in senders:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            counts["stop_timeouts"] += 1
    flat = [lag for per_stream in lags for lag in per_stream]
    return {
        "client": "compat" if compat else "sdk",
        "streams": streams,
        "audio_s": frames * FRAME_S,
        "cpu_s": stream_cpu,
        "wall_s": stream_wall,
        "session_cpu_s": cpu_seconds() - session_cpu,
        "send_lag": _lag_summary(flat),
        "frames_sent": len(flat),
        "frames_planned": frames * streams,
        "rss_start": rss_start,
        "rss_peak": rss_peak,
        "threads": peak_threads,
        "involuntary_switches": involuntary_switches(),
        **counts,
        "error_samples": errors[:5],
    }
