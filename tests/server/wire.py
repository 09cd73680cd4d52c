"""A tiny raw-WebSocket kit for the local server tests: build frames, read events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from tests.conftest import chunks
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TERMINAL = frozenset({"task-finished", "task-failed"})


def new_task_id() -> str:
    return uuid.uuid4().hex


def run_task(
    task_id: str, model: str = "fun-asr-realtime", *, sample_rate: int = 16000, format: str = "pcm", **parameters: Any
) -> str:
    """A run-task frame as the official SDK builds it."""
    return json.dumps(
        {
            "header": {"action": "run-task", "task_id": task_id, "streaming": "duplex"},
            "payload": {
                "model": model,
                "parameters": {"sample_rate": sample_rate, "format": format, **parameters},
                "input": {},
                "task": "asr",
                "task_group": "audio",
                "function": "recognition",
            },
        }
    )


def finish_task(task_id: str) -> str:
    return json.dumps(
        {"header": {"action": "finish-task", "task_id": task_id, "streaming": "duplex"}, "payload": {"input": {}}}
    )


async def recv_event(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """The next server event as a dict (server frames are always text)."""
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"unexpected binary frame from the server: {frame[:32]!r}"
    event: dict[str, Any] = json.loads(frame)
    return event


async def events_until_end(ws: ClientConnection, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Events up to and including task-finished or task-failed."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await recv_event(ws, timeout)
            events.append(event)
            if event["header"]["event"] in TERMINAL:
                return events


async def real_time_session(url: str, pcm: bytes, *, timeout: float) -> tuple[list[str], float, float]:
    """One task at real-time pace on a new connection, in 100 ms frames.

    Its finals' texts, the wall time from the first frame to task-finished, and from
    finish-task to task-finished (the wait for the last result).
    """
    async with connect(url) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        first = time.monotonic()
        for n, frame in enumerate(chunks(pcm)):  # 100 ms frames
            await asyncio.sleep(max(0.0, first + n * 0.1 - time.monotonic()))
            await ws.send(frame)
        finishing = time.monotonic()
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws, timeout=timeout)
        done = time.monotonic()
    assert events[-1]["header"]["event"] == "task-finished", events[-1]
    return [s["text"] for s in finals(events)], done - first, done - finishing


async def start(ws: ClientConnection, task_id: str, model: str = "fun-asr-realtime", **kwargs: Any) -> None:
    """Send run-task and require task-started for the same task id."""
    await ws.send(run_task(task_id, model, **kwargs))
    event = await recv_event(ws)
    assert event["header"]["event"] == "task-started", event
    assert event["header"]["task_id"] == task_id


async def stream(ws: ClientConnection, frames: Iterable[bytes]) -> None:
    for frame in frames:
        await ws.send(frame)


async def wait_closed(ws: ClientConnection, timeout: float = 5.0) -> ConnectionClosed:
    """Drain until the server closes the connection; returns the close exception."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                return exc


def sentences(events: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(sentence, usage) of every result-generated event."""
    return [
        (e["payload"]["output"]["sentence"], e["payload"]["usage"])
        for e in events
        if e["header"]["event"] == "result-generated"
    ]


def finals(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s, _ in sentences(events) if s["sentence_end"]]


async def transcribe(
    ws: ClientConnection, frames: Iterable[bytes], model: str = "fun-asr-realtime", **kwargs: Any
) -> tuple[str, list[dict[str, Any]]]:
    """One whole task on ``ws``: run-task, the audio, finish-task. Its id, and its events to the end."""
    task_id = new_task_id()
    await start(ws, task_id, model, **kwargs)
    await stream(ws, frames)
    await ws.send(finish_task(task_id))
    return task_id, await events_until_end(ws)
