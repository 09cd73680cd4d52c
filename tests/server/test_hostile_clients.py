"""Hostile clients on loopback: malformed handshakes, leaked keys, clients that never read.

Every case is a raw TCP client, bounded in time and size. The server must answer each
malformed request with the documented 4xx (never a 500, never a traceback at the default
level), keep the API key out of its logs at DEBUG, and let go of clients that do not read
within about ``client_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterable

import pytest
from pydantic import SecretStr
from tests.conftest import chunks, load_speech
from tests.server.wire import new_task_id, run_task
from tests.timing import scaled
from websockets.frames import Frame, Opcode

from funasr_realtime.server import LocalServer, ServerConfig

KEY = "local-hostile-5e1f0c9a7b3d"  # not sk- shaped: only the configured key can match it
K = KEY.encode()
_UPGRADE = [
    b"Host: 127.0.0.1",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
]
_GOOD_AUTH = b"Authorization: Bearer " + K
_LINE = b"GET /api-ws/v1/inference HTTP/1.1"


def _request(line: bytes = _LINE, headers: Iterable[bytes] = _UPGRADE, auth: Iterable[bytes] = (_GOOD_AUTH,)) -> bytes:
    return b"\r\n".join([line, *headers, *auth]) + b"\r\n\r\n"


def _without(name: bytes) -> list[bytes]:
    return [h for h in _UPGRADE if not h.lower().startswith(name.lower())]


#: (case, raw request, expected status). The key appears wherever a request can carry it.
HANDSHAKES: list[tuple[str, bytes, int]] = [
    ("well-formed", _request(), 101),
    # credentials
    ("no Authorization", _request(auth=()), 401),
    ("two Authorization headers, both right", _request(auth=(_GOOD_AUTH, _GOOD_AUTH)), 401),
    ("two Authorization headers, one wrong", _request(auth=(b"Authorization: Bearer sk-wrong-1", _GOOD_AUTH)), 401),
    ("empty Authorization", _request(auth=(b"Authorization:",)), 401),
    ("scheme only", _request(auth=(b"Authorization: Bearer",)), 401),
    ("key without scheme", _request(auth=(b"Authorization: " + K,)), 401),
    ("Basic scheme", _request(auth=(b"Authorization: Basic " + K,)), 401),
    ("non-ASCII byte after the key", _request(auth=(_GOOD_AUTH + b"\xe9",)), 401),
    ("wrong key", _request(auth=(b"Authorization: Bearer sk-wrong-secret-2",)), 401),
    # malformed header lines carrying the key
    ("Authorization line without a colon", _request(auth=(b"Authorization Bearer " + K,)), 400),
    ("control character in Authorization", _request(auth=(_GOOD_AUTH + b"\x01",)), 400),
    ("invalid header name before the key", _request(auth=(b"Author ization: Bearer " + K,)), 400),
    ("over-long Authorization", _request(auth=(b"Authorization: Bearer " + K * 800,)), 431),
    ("too many headers", _request(headers=[*_UPGRADE, *(b"X-%d: %s" % (i, K) for i in range(200))]), 431),
    ("the key as a header name", _request(headers=[*_UPGRADE, K + b": x"]), 101),
    # request line, paths and methods
    ("the key in the query", _request(line=b"GET /api-ws/v1/inference?key=" + K + b" HTTP/1.1"), 101),
    ("over-long request line", _request(line=b"GET /api-ws/v1/inference?key=" + K * 800 + b" HTTP/1.1"), 414),
    ("root path", _request(line=b"GET / HTTP/1.1"), 404),
    ("dot segments", _request(line=b"GET /api-ws/v1/inference/../other HTTP/1.1"), 404),
    ("double slash", _request(line=b"GET //api-ws/v1/inference HTTP/1.1"), 404),
    ("absolute URI", _request(line=b"GET http://h/api-ws/v1/inference HTTP/1.1"), 404),
    ("non-ASCII path", _request(line=b"GET /api-ws/v1/inf\xc3\xa9rence HTTP/1.1"), 400),
    ("POST", _request(line=b"POST /api-ws/v1/inference HTTP/1.1"), 405),
    ("unknown method", _request(line=b"BREW /api-ws/v1/inference HTTP/1.1"), 405),
    ("HTTP/1.0", _request(line=b"GET /api-ws/v1/inference HTTP/1.0"), 505),
    ("HTTP/2.0", _request(line=b"GET /api-ws/v1/inference HTTP/2.0"), 400),
    ("request line without a version", _request(line=b"GET /api-ws/v1/inference"), 400),
    ("TLS hello on the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    # WebSocket headers
    ("no Upgrade", _request(headers=_without(b"Upgrade")), 426),
    ("no Sec-WebSocket-Key", _request(headers=_without(b"Sec-WebSocket-Key")), 400),
    ("two Sec-WebSocket-Key", _request(headers=[*_UPGRADE, _UPGRADE[3]]), 400),
    ("WebSocket version 8", _request(headers=[*_without(b"Sec-WebSocket-Version"), b"Sec-WebSocket-Version: 8"]), 400),
    ("a request body", _request(headers=[*_UPGRADE, b"Content-Length: 5"]), 400),
    ("chunked body", _request(headers=[*_UPGRADE, b"Transfer-Encoding: chunked"]), 400),
]


@contextlib.asynccontextmanager
async def _server(**overrides: object) -> AsyncIterator[LocalServer]:
    config = ServerConfig(engine="synthetic", **overrides)  # type: ignore[arg-type]
    async with LocalServer(config) as server:
        yield server


def _address(server: LocalServer) -> tuple[str, int]:
    host, port = server.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


async def _status(server: LocalServer, request: bytes) -> int | None:
    """The HTTP status the server answers ``request`` with (None: closed without a response)."""
    reader, writer = await asyncio.open_connection(*_address(server))
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), scaled(5))
    finally:
        writer.close()
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


def _server_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("funasr_realtime.server", "websockets"))]


async def test_malformed_handshakes_get_their_status_and_never_leak_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # serve -vv
    async with _server(api_key=SecretStr(KEY)) as server:
        answered = [(case, await _status(server, request)) for case, request, _ in HANDSHAKES]
    assert answered == [(case, status) for case, _, status in HANDSHAKES]

    records = _server_records(caplog)
    text = "\n".join(logging.Formatter().format(r) for r in records)
    assert "< Authorization" in text, "expected the server's handshake debug logs"
    assert "invalid HTTP header" in text, "expected websockets' parse errors, which quote the raw line"
    assert KEY not in text
    assert "sk-wrong" not in text
    # Default verbosity (WARNING): nothing worth a traceback happened, and no 500 was logged.
    loud = [r for r in records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]


# --------------------------------------------------------------------------- clients that never read


class RawClient:
    """A WebSocket client on a bare socket with a tiny receive buffer that never reads a byte."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    @classmethod
    async def open(cls, server: LocalServer) -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, _address(server))
        _reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(_request(auth=()))
        return cls(writer)

    async def send(self, payload: str | bytes) -> None:
        opcode, data = (Opcode.TEXT, payload.encode()) if isinstance(payload, str) else (Opcode.BINARY, payload)
        self._writer.write(Frame(opcode, data).serialize(mask=True, extensions=[]))
        await self._writer.drain()

    def close(self) -> None:
        self._writer.transport.abort()


async def _gone(server: LocalServer, within: float) -> float:
    """Wait until the server holds no connection; returns how long it took."""
    started = time.monotonic()
    async with asyncio.timeout(within):
        while server.active_connections:  # noqa: ASYNC110 (polling a counter the server owns)
            await asyncio.sleep(0.05)
    return time.monotonic() - started


async def _wait_connected(server: LocalServer, count: int) -> None:
    async with asyncio.timeout(scaled(5)):
        while server.active_connections < count:  # noqa: ASYNC110 (polling a counter the server owns)
            await asyncio.sleep(0.01)


async def test_silent_clients_that_never_read_are_closed_after_client_timeout() -> None:
    """Half-open: a task, some speech, then nothing, and no byte ever read."""
    speech = load_speech("s1").pcm
    async with _server(client_timeout=1.0) as server:
        clients = [await RawClient.open(server) for _ in range(3)]
        try:
            for client in clients:
                await client.send(run_task(new_task_id()))
                for frame in chunks(speech[: 32000 * 2]):
                    await client.send(frame)
            await _wait_connected(server, 3)
            # client_timeout, then the close handshake the client never completes (2 s).
            held = await _gone(server, scaled(1.0 + 3.0 + 3.0))
        finally:
            for client in clients:
                client.close()
    assert held >= 0.5  # the task was really running: the server waited for the client


async def test_flooding_client_that_never_reads_is_aborted() -> None:
    """Streams speech as fast as the socket takes it and never reads a result.

    Small server socket buffers make its results back up within seconds instead of minutes.
    """
    speech = load_speech("long").pcm
    async with _server(client_timeout=1.0, socket_buffer_bytes=4096) as server:
        client = await RawClient.open(server)
        sent = 0
        try:
            await client.send(run_task(new_task_id()))
            await _wait_connected(server, 1)
            async with asyncio.timeout(scaled(30)):
                with contextlib.suppress(ConnectionError):
                    while server.active_connections:  # 2 GB at most: the bound is the timeout
                        for frame in chunks(speech):
                            await client.send(frame)
                            sent += len(frame)
            held = await _gone(server, scaled(5))
        finally:
            client.close()
    assert held < scaled(5)
    assert sent > len(speech), "the server must have read (and recognized) the flood for a while"
