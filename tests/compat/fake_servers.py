"""Servers the real one cannot imitate: one that never finishes, one that drops tasks, and one
that records every run-task it receives (and finishes each task without results)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Literal

from websockets.asyncio.server import ServerConnection, serve

Behaviour = Literal["never-finish", "close-1011", "record"]


def _started(task_id: str) -> str:
    return json.dumps({"header": {"task_id": task_id, "event": "task-started", "attributes": {}}, "payload": {}})


def _finished(task_id: str) -> str:
    header = {"task_id": task_id, "event": "task-finished", "attributes": {}}
    return json.dumps({"header": header, "payload": {"output": {}, "usage": None}})


async def _handle(ws: ServerConnection, behaviour: Behaviour, received: list[dict[str, Any]]) -> None:
    async for frame in ws:
        if isinstance(frame, str):
            message = json.loads(frame)
            action = message["header"]["action"]
            if action == "run-task":
                received.append(message)
                await ws.send(_started(message["header"]["task_id"]))
            elif action == "finish-task" and behaviour == "record":
                await ws.send(_finished(message["header"]["task_id"]))
        elif behaviour == "close-1011":
            await ws.close(1011, "engine crashed")
            return
        # "never-finish": audio and finish-task are read and ignored; pings are still answered.
        # "record": audio is ignored, finish-task gets task-finished (a task without results).


@contextmanager
def fake_server(behaviour: Behaviour) -> Iterator[str]:
    """Run the fake on a thread; yields its URL."""
    with recording_server(behaviour) as (url, _):
        yield url


@contextmanager
def recording_server(behaviour: Behaviour = "record") -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Run the fake on a thread; yields its URL and the run-task messages it received, in order."""
    received: list[dict[str, Any]] = []
    ready: Future[tuple[str, asyncio.AbstractEventLoop, asyncio.Event]] = Future()

    async def main() -> None:
        stop = asyncio.Event()
        async with serve(lambda ws: _handle(ws, behaviour, received), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            ready.set_result((f"ws://127.0.0.1:{port}/api-ws/v1/inference", asyncio.get_running_loop(), stop))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    url, loop, stop = ready.result(timeout=10)
    try:
        yield url, received
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
