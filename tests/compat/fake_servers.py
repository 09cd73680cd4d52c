"""Misbehaving servers the real one cannot imitate: one that never finishes, one that drops tasks."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Literal

from websockets.asyncio.server import ServerConnection, serve

Behaviour = Literal["never-finish", "close-1011"]


def _started(task_id: str) -> str:
    return json.dumps({"header": {"task_id": task_id, "event": "task-started", "attributes": {}}, "payload": {}})


async def _handle(ws: ServerConnection, behaviour: Behaviour) -> None:
    async for frame in ws:
        if isinstance(frame, str):
            message = json.loads(frame)
            if message["header"]["action"] == "run-task":
                await ws.send(_started(message["header"]["task_id"]))
        elif behaviour == "close-1011":
            await ws.close(1011, "engine crashed")
            return
        # "never-finish": audio and finish-task are read and ignored; pings are still answered.


@contextmanager
def fake_server(behaviour: Behaviour) -> Iterator[str]:
    """Run the fake on a thread; yields its URL."""
    ready: Future[tuple[str, asyncio.AbstractEventLoop, asyncio.Event]] = Future()

    async def main() -> None:
        stop = asyncio.Event()
        async with serve(lambda ws: _handle(ws, behaviour), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            ready.set_result((f"ws://127.0.0.1:{port}/api-ws/v1/inference", asyncio.get_running_loop(), stop))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    url, loop, stop = ready.result(timeout=10)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
