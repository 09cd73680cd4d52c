"""A scripted peer for faults the real server cannot make (malformed JSON, silence...).

``async with scripted(handler) as url`` serves ``handler(ws)`` for each connection on
127.0.0.1:0. Handlers read the client's frames with ``ws.recv()`` and answer by hand.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/api-ws/v1/inference"


async def read_run_task(ws: ServerConnection) -> dict[str, Any]:
    frame = await ws.recv()
    assert isinstance(frame, str)
    message: dict[str, Any] = json.loads(frame)
    assert message["header"]["action"] == "run-task"
    return message


def event(name: str, task_id: str, payload: dict[str, Any] | None = None, **header: str) -> str:
    return json.dumps(
        {"header": {"task_id": task_id, "event": name, "attributes": {}, **header}, "payload": payload or {}}
    )


def result(task_id: str, text: str, *, final: bool, begin: int = 0, end: int = 500) -> str:
    sentence = {
        "begin_time": begin,
        "end_time": end if final else None,
        "text": text,
        "words": [],
        "heartbeat": False,
        "sentence_end": final,
        "sentence_id": 1,
    }
    return event(
        "result-generated", task_id, {"output": {"sentence": sentence}, "usage": {"duration": 1} if final else None}
    )
