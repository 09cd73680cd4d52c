"""A fault-injecting TCP proxy for the DashScope WebSocket protocol (loopback only).

Put it between a client and a server to make the faults a real network (or a real
service) produces and a local server cannot: dropped and reset connections, black holes
(no bytes, no pongs), latency and throttling, a frame cut in half, a close frame with a
chosen code, a task-failed event, an HTTP status at the handshake::

    async with FaultProxy(server_url) as proxy:
        client = Client(url=proxy.url)
        ...
        proxy.drop()                       # reset every open connection now
        proxy.fail_after(client_bytes=64_000, fault=Fault.RESET)   # at a chosen point
        proxy.blackhole()                  # half-open: swallow everything both ways
        proxy.inject_task_failed("Throttling.RateQuota", "Requests rate limit exceeded")
        proxy.reject_handshakes(503, count=2)

It parses just enough of WebSocket framing (frame boundaries, unmasking client frames to
read the task id) to fault at frame granularity. It counts the connections it accepts
(:attr:`connections`) and the run-task messages it forwards (:attr:`run_tasks`, with their
parameters in :attr:`run_task_parameters`).
It binds 127.0.0.1 only, and :meth:`aclose` ends everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import socket
import struct
import time
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Fault", "FaultProxy"]

logger = logging.getLogger(__name__)

_CHUNK = 65536


class Fault(enum.Enum):
    """What happens to a connection when a fault triggers."""

    RESET = "reset"  # TCP RST both ways (connection drop, code 1006 for the client)
    BLACKHOLE = "blackhole"  # keep the sockets, forward nothing (half-open)
    CUT_FRAME = "cut-frame"  # send half of the next server frame, then reset


@dataclass(eq=False)
class _Link:
    """One proxied connection: the two sockets and what has crossed."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    client_bytes: int = 0
    server_bytes: int = 0
    blackholed: bool = False
    task_id: str = ""
    closing: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    server_frames: _FrameScanner = field(default_factory=lambda: _FrameScanner(masked=False))
    injection: bytes | None = None  # frames to send the client at the next frame boundary, then reset


class FaultProxy:
    """Forwards 127.0.0.1:PORT to the server of ``target_url``, injecting faults on demand."""

    def __init__(self, target_url: str, *, latency: float = 0.0, bytes_per_second: float | None = None) -> None:
        parts = urlsplit(target_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fault proxy only targets loopback servers")
        self._target = (parts.hostname, parts.port or 80)
        self._path = parts.path
        self.latency = latency
        self.bytes_per_second = bytes_per_second
        self.connections = 0
        self.run_tasks = 0
        self.run_task_parameters: list[dict[str, object]] = []  # payload.parameters of each run-task
        self.triggered_at: float | None = None  # time.monotonic() when a fail_after fault fired
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._handshake_rejections: list[int] = []
        self._trigger: tuple[int, Fault] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None, "proxy not started"
        port = self._server.sockets[0].getsockname()[1]
        return urlunsplit(("ws", f"127.0.0.1:{port}", self._path, "", ""))

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._reset(link)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ faults

    def drop(self) -> None:
        """Reset every open connection now (the client sees an abnormal closure, 1006)."""
        for link in list(self._links):
            self._reset(link)

    def blackhole(self) -> None:
        """Open connections stop forwarding both ways (no data, no pongs); new ones work."""
        for link in self._links:
            link.blackholed = True

    def fail_after(self, *, client_bytes: int, fault: Fault = Fault.RESET) -> None:
        """Apply ``fault`` to a connection once its client has sent ``client_bytes``."""
        self._trigger = (client_bytes, fault)

    def cut_next_frame(self) -> None:
        """Deliver half of the next server frame on each open connection, then reset it."""
        for link in list(self._links):
            link.closing = True

    def close_with(self, code: int, reason: str = "") -> None:
        """Send the client a close frame with ``code`` as if the server closed, then reset."""
        payload = struct.pack("!H", code) + reason.encode()
        for link in list(self._links):
            self._inject(link, _frame(0x8, payload))

    def inject_task_failed(self, error_code: str, error_message: str) -> None:
        """Send each client a task-failed for its running task, then close like the service."""
        for link in list(self._links):
            event = {
                "header": {
                    "task_id": link.task_id,
                    "event": "task-failed",
                    "attributes": {},
                    "error_code": error_code,
                    "error_message": error_message,
                },
                "payload": {},
            }
            frames = _frame(0x1, json.dumps(event).encode()) + _frame(0x8, struct.pack("!H", 1000))
            self._inject(link, frames)

    def reject_handshakes(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` connections' upgrade with HTTP ``status`` instead."""
        self._handshake_rejections.extend([status] * count)

    # ------------------------------------------------------------------ plumbing

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._handshake_rejections:
            await self._reject(reader, writer, self._handshake_rejections.pop(0))
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _abort(writer)
            return
        link = _Link(client=writer, server=up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._relay(link, reader, up_writer, from_client=True)),
            asyncio.create_task(self._relay(link, up_reader, writer, from_client=False)),
        ]
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        except asyncio.CancelledError:
            for task in link.tasks:
                task.cancel()  # the proxy is closing
        finally:
            self._links.discard(link)

    async def _reject(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(f"HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    async def _relay(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_client: bool
    ) -> None:
        frames = _FrameScanner(masked=True) if from_client else link.server_frames
        shaper = _Shaper(self)
        try:
            while data := await reader.read(_CHUNK):
                if link.blackholed:
                    continue
                if from_client:
                    link.client_bytes += len(data)
                    self._sniff_task_id(link, frames.feed(data))
                    if self._triggered(link):
                        continue
                else:
                    link.server_bytes += len(data)
                    if link.closing:
                        self._cut(link, frames, data)
                        return
                    if link.injection is not None:
                        self._finish_frame_then_inject(link, frames, data)
                        return
                    frames.feed(data)
                self._deliver(writer, data, shaper)
        except (ConnectionError, OSError):
            pass
        finally:
            if not link.blackholed:
                self._reset(link)

    def _triggered(self, link: _Link) -> bool:
        if self._trigger is None or link.client_bytes < self._trigger[0]:
            return False
        fault = self._trigger[1]
        self._trigger = None
        self.triggered_at = time.monotonic()
        logger.info("fault %s after %d client bytes", fault.value, link.client_bytes)
        if fault is Fault.BLACKHOLE:
            link.blackholed = True
        elif fault is Fault.CUT_FRAME:
            link.closing = True
            return False
        else:
            self._reset(link)
        return True

    def _finish_frame_then_inject(self, link: _Link, frames: _FrameScanner, data: bytes) -> None:
        assert link.injection is not None
        self._write(link.client, data[: frames.boundary_after(data)] + link.injection)
        self._close_after_flush(link)

    def _cut(self, link: _Link, frames: _FrameScanner, data: bytes) -> None:
        boundary = frames.boundary_after(data)
        keep = boundary + max(1, (len(data) - boundary) // 2) if boundary < len(data) else len(data) // 2
        self._write(link.client, data[:keep])
        self._reset(link)

    def _sniff_task_id(self, link: _Link, texts: list[bytes]) -> None:
        for text in texts:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                message = json.loads(text)
                if message["header"]["action"] == "run-task":
                    link.task_id = message["header"]["task_id"]
                    self.run_tasks += 1
                    self.run_task_parameters.append(message["payload"].get("parameters", {}))

    def _deliver(self, writer: asyncio.StreamWriter, data: bytes, shaper: _Shaper) -> None:
        due = shaper.due(len(data))
        if due is None:
            self._write(writer, data)
        else:
            asyncio.get_running_loop().call_at(due, self._write, writer, data)

    def _inject(self, link: _Link, frames: bytes) -> None:
        """Send ``frames`` to the client between two server frames, then reset the link."""
        if link.server_frames.at_boundary:
            self._write(link.client, frames)
            self._close_after_flush(link)
        else:
            link.injection = frames  # the server→client pump sends it after the current frame

    def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.write(data)

    def _close_after_flush(self, link: _Link) -> None:
        """End the link like a server that sent its last frames: FIN to the client after the
        data (an RST could discard what was just written), RST to the server."""
        self._links.discard(link)
        link.blackholed = True  # forward nothing more in either direction
        with contextlib.suppress(Exception):
            link.client.close()
        _abort(link.server)

    def _reset(self, link: _Link) -> None:
        self._links.discard(link)
        for writer in (link.client, link.server):
            _abort(writer)


class _Shaper:
    """When each chunk of one direction may be delivered: bandwidth serializes, latency pipelines."""

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy
        self._free_at = 0.0  # when the simulated link finishes sending what it already has

    def due(self, size: int) -> float | None:
        """Loop time to deliver a chunk arriving now, or None to deliver at once."""
        rate, latency = self._proxy.bytes_per_second, self._proxy.latency
        if not rate and not latency:
            return None
        now = asyncio.get_running_loop().time()
        self._free_at = max(self._free_at, now) + (size / rate if rate else 0.0)
        return self._free_at + latency


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), like a dropped network path, not a polite FIN."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()


def _frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked (server → client) WebSocket frame."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


class _FrameScanner:
    """Tracks WebSocket frame boundaries in one direction (after the HTTP handshake).

    ``feed`` returns the payloads of complete text frames (unmasked), so the proxy can
    read run-task; ``boundary_after`` tells where in a chunk the next frame starts.
    """

    def __init__(self, *, masked: bool) -> None:
        self._masked = masked
        self._buffer = bytearray()
        self._in_handshake = True

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        if self._in_handshake:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return []
            del self._buffer[: end + 4]
            self._in_handshake = False
        texts: list[bytes] = []
        while (parsed := self._parse()) is not None:
            opcode, payload, size = parsed
            del self._buffer[:size]
            if opcode == 0x1:
                texts.append(payload)
        return texts

    @property
    def at_boundary(self) -> bool:
        """Whether everything fed so far ended exactly at a frame boundary."""
        return not self._in_handshake and not self._buffer

    def boundary_after(self, data: bytes) -> int:
        """Offset in ``data`` where the first frame starting in it begins (0 if aligned)."""
        pending = len(self._buffer)
        if pending == 0:
            return 0
        header = self._header()
        if header is None:  # not even the header is in yet: assume it completes in this chunk
            return min(len(data), 1)
        _, offset, length, _ = header
        return min(len(data), max(0, offset + length - pending))

    def _header(self) -> tuple[int, int, int, bytes] | None:
        """(opcode, payload offset, payload length, mask) of the buffered frame, once its
        header is complete, even if its payload is not."""
        buf = self._buffer
        if len(buf) < 2:
            return None
        opcode, length, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, offset = struct.unpack_from("!H", buf, 2)[0], 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, offset = struct.unpack_from("!Q", buf, 2)[0], 10
        mask = b""
        if self._masked:
            if len(buf) < offset + 4:
                return None
            mask, offset = bytes(buf[offset : offset + 4]), offset + 4
        return opcode, offset, length, mask

    def _parse(self) -> tuple[int, bytes, int] | None:
        header = self._header()
        if header is None:
            return None
        opcode, offset, length, mask = header
        if len(self._buffer) < offset + length:
            return None
        payload = bytes(self._buffer[offset : offset + length])
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 4096 else payload
        return opcode, payload, offset + length
