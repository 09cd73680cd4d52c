"""The fault proxy's frame bookkeeping: injections land between frames, never inside one."""

from __future__ import annotations

import asyncio
import json

from funasr_realtime.testing.proxy import FaultProxy, _frame, _FrameScanner

HANDSHAKE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def test_scanner_knows_when_a_frame_is_half_through() -> None:
    scanner = _FrameScanner(masked=False)
    assert not scanner.at_boundary, "still in the HTTP handshake"
    big = _frame(0x1, b"x" * 1000)
    scanner.feed(HANDSHAKE + big[:400])
    assert not scanner.at_boundary
    rest = big[400:] + _frame(0x1, b"next")
    assert scanner.boundary_after(rest) == len(big) - 400, "the first frame ends here"
    scanner.feed(rest)
    assert scanner.at_boundary


def test_scanner_reads_masked_client_text() -> None:
    scanner = _FrameScanner(masked=True)
    payload = json.dumps({"header": {"action": "run-task", "task_id": "t1"}}).encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + masked
    texts = scanner.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + frame)
    assert texts == [payload]


async def test_an_injection_reaches_the_client_intact_before_the_close() -> None:
    """A graceful close after the injected frames: an RST could destroy them in flight."""
    received = bytearray()

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HANDSHAKE)
        await writer.drain()
        await asyncio.sleep(5)

    upstream = await asyncio.start_server(server, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    async with FaultProxy(f"ws://127.0.0.1:{port}/api-ws/v1/inference") as proxy:
        host, proxy_port = proxy.url.split("//")[1].split("/", 1)[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(proxy_port))
        writer.write(b"GET /api-ws/v1/inference HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        proxy.inject_task_failed("Arrearage", "overdue")
        while chunk := await asyncio.wait_for(reader.read(65536), 2):
            received += chunk
        writer.close()
    upstream.close()
    scanner = _FrameScanner(masked=False)
    [text] = scanner.feed(HANDSHAKE + bytes(received))
    assert json.loads(text)["header"]["error_code"] == "Arrearage"
    assert scanner.at_boundary, "the close frame arrived whole too"
