"""Any pace, any length: a fast producer is paced, never cut off, and loses nothing.

Against the real local server: a minute of speech sent as fast as the client can, and at
4x real time, gives every sentence with no reconnect. Against scripted peers: the wait
after finish-task follows the results that keep arriving, a server that reports nothing
holds a file to real time (never forever), and a busy server that answers late is never
declared dead.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread
from tests.client.scripted import event, read_run_task, scripted
from tests.conftest import chunks, minute_of_speech
from tests.feeding import feed_and_collect
from tests.timing import scaled

RATE = 16000
BYTES_PER_S = RATE * 2


async def stream_pcm(
    url: str, pcm: bytes, *, speed: float | None = None, **client: Any
) -> tuple[list[str], list[fr.Reconnected]]:
    """Stream ``pcm`` in 100 ms chunks (``speed``x real time, or as fast as possible)."""
    async with fr.Client(url=url, **client).stream(sample_rate=RATE) as stream:
        collected = await feed_and_collect(stream, pcm, speed=speed)
    return collected.finals, collected.reconnects


@pytest.mark.parametrize("speed", [None, 4.0], ids=["full-speed", "4x-real-time"])
async def test_a_minute_of_speech_at_any_pace_gives_every_sentence(
    grammar_server: ServerThread, speed: float | None
) -> None:
    pcm, sentences = minute_of_speech()
    finals, reconnects = await stream_pcm(grammar_server.url, pcm, speed=speed)
    assert reconnects == []
    assert finals == sentences


async def test_a_minute_at_full_speed_on_the_default_engine_loses_no_words(open_server: ServerThread) -> None:
    """The general-LM engine is slower than the sender: pacing, not reconnects, absorbs it."""
    pcm, sentences = minute_of_speech()
    finals, reconnects = await stream_pcm(open_server.url, pcm)
    assert reconnects == []
    words = " ".join(finals).split()
    reference = " ".join(sentences).split()
    # The open vocabulary misrecognizes some words (WER ~14 %), but nothing is dropped:
    # about as many words come back as were spoken, in every third of the recording.
    assert len(words) >= 0.85 * len(reference)
    assert sum(w in words for w in set(reference)) >= 0.85 * len(set(reference))


# ------------------------------------------------------------------ scripted peers


def partial(task_id: str, position_ms: int) -> str:
    """A partial whose last word ends at ``position_ms``: the server's reported position."""
    word = {"begin_time": max(0, position_ms - 100), "end_time": position_ms, "text": "w", "punctuation": ""}
    sentence = {"begin_time": 0, "end_time": None, "text": "w", "words": [word], "sentence_end": False}
    return event("result-generated", task_id, {"output": {"sentence": sentence}, "usage": None})


def final(task_id: str, text: str, end_ms: int) -> str:
    sentence = {"begin_time": 0, "end_time": end_ms, "text": text, "words": [], "sentence_end": True}
    return event("result-generated", task_id, {"output": {"sentence": sentence}, "usage": {"duration": 1}})


async def serve_task(
    ws: ServerConnection, *, report_every_ms: int | None, read_delay: float = 0.0, after_finish: float = 0.0
) -> None:
    """Accept one task; report the position every ``report_every_ms`` of audio read (None:
    never); after finish-task, keep sending partials for ``after_finish`` seconds, then the
    final and task-finished."""
    task_id = (await read_run_task(ws))["header"]["task_id"]
    await ws.send(event("task-started", task_id))
    received = reported = 0
    while True:
        frame = await ws.recv()
        if isinstance(frame, bytes):
            received += len(frame)
            await asyncio.sleep(read_delay)
            position = received * 1000 // BYTES_PER_S
            if report_every_ms is not None and position - reported >= report_every_ms:
                reported = position
                await ws.send(partial(task_id, position))
            continue
        if json.loads(frame)["header"]["action"] == "finish-task":
            break
    position = received * 1000 // BYTES_PER_S
    deadline = time.monotonic() + after_finish
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        await ws.send(partial(task_id, position))
    await ws.send(final(task_id, "done", position))
    await ws.send(event("task-finished", task_id, {"output": {}, "usage": {"duration": 1}}))
    await ws.wait_closed()


async def test_the_wait_after_finish_follows_results_that_keep_arriving() -> None:
    """A server still working after finish-task (results arriving) is never cut off by ``stop``."""

    async def handler(ws: ServerConnection) -> None:
        await serve_task(ws, report_every_ms=200, after_finish=3 * 1.0)

    timeouts = fr.Timeouts(stop=1.0)
    async with scripted(handler) as url:
        finals, reconnects = await stream_pcm(url, b"\x00\x00" * RATE * 5, timeouts=timeouts)
    assert reconnects == []
    assert finals == ["done"]


async def test_a_server_that_falls_silent_after_finish_times_out_within_stop() -> None:
    async def handler(ws: ServerConnection) -> None:
        task_id = (await read_run_task(ws))["header"]["task_id"]
        await ws.send(event("task-started", task_id))
        await ws.wait_closed()  # reads everything, answers nothing more

    timeouts = fr.Timeouts(stop=0.5, ping_interval=None)
    started = time.monotonic()
    async with scripted(handler) as url:
        with pytest.raises(fr.TransportTimeout, match="task-finished"):
            await stream_pcm(url, b"\x00\x00" * 1600, timeouts=timeouts, resilience=fr.Resilience(max_retries=0))
    # stop (0.5 s) plus the 0.1 s of audio nothing covered: well under this bound
    assert time.monotonic() - started < scaled(5)


async def test_a_server_that_reports_nothing_holds_a_file_to_real_time_not_forever() -> None:
    """No position reports: the producer may run max_lead ahead, then real-time pace."""
    arrivals: list[tuple[float, int]] = []

    async def handler(ws: ServerConnection) -> None:
        task_id = (await read_run_task(ws))["header"]["task_id"]
        await ws.send(event("task-started", task_id))
        received = 0
        while True:
            frame = await ws.recv()
            if isinstance(frame, bytes):
                received += len(frame)
                arrivals.append((time.monotonic(), received))
            elif json.loads(frame)["header"]["action"] == "finish-task":
                break
        await ws.send(event("task-finished", task_id, {"output": {}, "usage": {"duration": 3}}))
        await ws.wait_closed()

    resilience = fr.Resilience(max_lead=0.5)
    async with scripted(handler) as url:
        await stream_pcm(url, b"\x00\x00" * RATE * 2, resilience=resilience)
    # Never faster than "0.5 s of lead, then real time" (a busy machine only makes it slower).
    first = arrivals[0][0]
    for at, received in arrivals:
        assert received <= BYTES_PER_S * (0.5 + 0.1 + (at - first) * 1.05) + 3200
    assert arrivals[-1][1] == BYTES_PER_S * 2  # and every byte arrived


async def test_a_fast_producer_stays_within_the_lead_of_the_reported_position() -> None:
    """The server reports as it reads, slowly: the producer waits for it, nothing is dropped."""
    lead_seen: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        await serve_task(ws, report_every_ms=100, read_delay=0.01)

    async with scripted(handler) as url:
        stream = fr.Client(url=url, resilience=fr.Resilience(max_lead=1.0)).stream(sample_rate=RATE)
        reader = asyncio.create_task(_drain(stream))
        for chunk in chunks(b"\x00\x00" * RATE * 4):
            await stream.send_audio(chunk)
            lead_seen.append(stream._core.lead)
        await stream.finish()
        events = await reader
    assert not [e for e in events if isinstance(e, fr.Reconnected)]
    # Real time would let 4 s through in 4 s; the slow reader (10 ms per 100 ms frame) is
    # faster, so the lead bounds the producer: never more than 1 s (+ one frame) ahead.
    assert max(lead_seen) <= BYTES_PER_S + 3200


async def test_a_busy_server_that_answers_late_is_not_declared_dead() -> None:
    """Results prove life: pings behind a backlog are not needed while results arrive."""

    async def handler(ws: ServerConnection) -> None:
        await serve_task(ws, report_every_ms=2000, read_delay=0.02)

    timeouts = fr.Timeouts(ping_interval=0.3, ping_timeout=0.3)
    async with scripted(handler) as url:
        finals, reconnects = await stream_pcm(url, b"\x00\x00" * RATE * 6, timeouts=timeouts)
    assert reconnects == []
    assert finals == ["done"]


async def _drain(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [e async for e in stream]
