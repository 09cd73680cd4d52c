"""Scripted peers for faults the real server cannot make (malformed JSON, silence...).

Client *logic* is tested in memory: ``mock_client(handler)`` is a client over a
:class:`~funasr_realtime.testing.MockTransport` whose ``handler`` plays the server on each
connection (:class:`~funasr_realtime.testing.MockConnection`); ``grammar_recognizer()``
recognizes the fixture sentences exactly, in memory, like the grammar server.

The *wire* is tested on loopback: ``async with scripted(handler) as url`` serves
``handler(ws)`` for each connection on 127.0.0.1:0; handlers read the client's frames with
``ws.recv()`` and answer by hand. ``async with raw_peer(handler) as (url, peers)`` does the
same on bare sockets, for peers that websockets cannot play: one that never answers a ping,
one that stops reading.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

import funasr_realtime as fr
from funasr_realtime.testing import MockConnection, MockTransport, recognizer
from funasr_realtime.testing.mock import Handler as MockHandler
from tests.conftest import GRAMMAR

Handler = Callable[[ServerConnection], Awaitable[None]]


# ---------------------------------------------------------------------------- in memory


def mock_client(handler: MockHandler | MockTransport | None = None, **options: Any) -> fr.Client:
    """A client whose connections are in memory, served by ``handler`` (default: the grammar
    recognizer). The transport is ``client.config.transport``."""
    transport = handler if isinstance(handler, MockTransport) else MockTransport(handler or grammar_recognizer())
    return fr.Client(transport=transport, **options)


@functools.cache
def grammar_recognizer() -> MockHandler:
    """In-memory recognition restricted to the fixture sentences: the grammar server's exact
    transcripts, without its sockets (one engine for the whole session, as the server has)."""
    from funasr_realtime.server.engines import create_engine

    return recognizer(create_engine("pocketsphinx", grammar=GRAMMAR))


async def started(server: MockConnection) -> str:
    """Read run-task, answer task-started; the task id."""
    await server.run_task()
    await server.start_task()
    return server.task_id


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/api-ws/v1/inference"


@contextmanager
def scripted_in_thread(handler: Handler, *, timeout: float = 10.0) -> Iterator[str]:
    """:func:`scripted` on a thread of its own, for synchronous callers (a CLI run in-process)."""
    urls: list[str] = []
    stop = threading.Event()

    async def main() -> None:
        async with scripted(handler) as url:
            urls.append(url)
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not urls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert urls, "the scripted peer did not start"
        yield urls[0]
    finally:
        stop.set()
        thread.join(timeout)


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


# ---------------------------------------------------------------------------- raw peers
# websockets always answers pings and always reads its socket. Peers that do neither are
# written on bare asyncio streams: they complete the handshake by hand and then misbehave.

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING = 0x9
TEXT = 0x1
CLOSE = 0x8


class RawPeer:
    """One client connection to a raw peer: hand-made handshake and frames, no automatic replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.opcodes: list[int] = []

    async def handshake(self) -> None:
        request = await self.reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID.encode()).digest()).decode()
        self.writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        await self.writer.drain()

    async def read_frame(self) -> tuple[int, bytes]:
        """The next client frame (opcode, unmasked payload); every opcode is recorded."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        mask = await self.reader.readexactly(4) if second & 0x80 else b"\x00" * 4
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await self.reader.readexactly(length)))
        self.opcodes.append(first & 0x0F)
        return first & 0x0F, payload

    async def read_run_task(self) -> str:
        """Skip to the run-task message; return its task id."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == TEXT:
                message = json.loads(payload)
                assert message["header"]["action"] == "run-task"
                return str(message["header"]["task_id"])

    async def send_text(self, text: str) -> None:
        data = text.encode()
        if len(data) < 126:
            header = bytes([0x80 | TEXT, len(data)])
        else:
            header = bytes([0x80 | TEXT, 126]) + len(data).to_bytes(2, "big")
        self.writer.write(header + data)
        await self.writer.drain()

    async def discard_forever(self) -> None:
        """Read and drop every frame, pings included: never a pong, a message or a close."""
        while True:
            await self.read_frame()


RawHandler = Callable[[RawPeer], Awaitable[None]]


@asynccontextmanager
async def raw_peer(
    handler: RawHandler, *, receive_buffer: int | None = None
) -> AsyncIterator[tuple[str, list[RawPeer]]]:
    """Serve ``handler(peer)`` on 127.0.0.1:0 on bare sockets; yields the URL and the peers so far.

    ``receive_buffer`` shrinks the kernel receive buffer (SO_RCVBUF), so a peer that stops
    reading backs up the client's sends after a few kilobytes instead of megabytes.
    """
    peers: list[RawPeer] = []
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        peer = RawPeer(reader, writer)
        peers.append(peer)
        try:
            await peer.handshake()
            await handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # inherited by accepted sockets
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(on_connect, sock=listener)
    port = listener.getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/api-ws/v1/inference", peers
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        await server.wait_closed()
