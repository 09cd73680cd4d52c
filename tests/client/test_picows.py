"""The picows transport (``transport="picows"``) against real and hostile peers.

The whole client suite can also run on it (``FUNASR_REALTIME_TRANSPORT=picows``, see
``tests/client/README``); this module keeps its own contract covered in every CI run: the
real local server, the handshake (headers, refusals, timeouts), close codes, a peer that
sends garbage, never answers or stops reading, pings, fragments, and the key kept out of
every log record and error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

import funasr_realtime as fr
from funasr_realtime.client._choose import choose_transport
from funasr_realtime.client.config import ClientConfig
from funasr_realtime.client.connection import Connection
from funasr_realtime.client.limiter import task_limiter
from funasr_realtime.protocol import RecognitionParams
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import FaultProxy
from tests.client.scripted import CLOSE, RawPeer, raw_peer
from tests.conftest import chunks, load_speech
from tests.timing import scaled

pytest.importorskip("picows")
from funasr_realtime.client._picows import PicowsTransport, translate, translated

TIMEOUTS = fr.Timeouts(connect=1, task_started=2, stop=5, send=1, ping_interval=0.5, ping_timeout=0.5, close=0.3)


def config(url: str, **options: object) -> ClientConfig:
    return ClientConfig.resolve(url=url, timeouts=TIMEOUTS, transport="picows", **options)  # type: ignore[arg-type]


async def opened(url: str, **options: object) -> PicowsTransport:
    return await PicowsTransport.open(config(url, **options))


def fake_key() -> str:
    return "sk-" + "picows0test" * 3


# ---------------------------------------------------------------------------- choosing it


def test_names_choose_the_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "ws://127.0.0.1:9/api-ws/v1/inference"
    assert fr.Client(url=url, transport="picows").config.transport is PicowsTransport
    assert fr.Client(url=url, transport="AUTO").config.transport is PicowsTransport
    assert fr.Client(url=url, transport="websockets").config.transport is None
    assert ClientConfig(url=url, transport="picows").transport is PicowsTransport  # type: ignore[arg-type]
    monkeypatch.setenv("FUNASR_REALTIME_TRANSPORT", "picows")
    assert fr.Client(url=url).config.transport is PicowsTransport
    monkeypatch.setenv("FUNASR_REALTIME_TRANSPORT", "fastest")
    with pytest.raises(fr.ConfigurationError, match="FUNASR_REALTIME_TRANSPORT"):
        fr.Client(url=url)


def test_without_picows_auto_falls_back_and_picows_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "funasr_realtime.client._picows", None)  # import fails
    assert choose_transport("auto") is None
    with pytest.raises(fr.ConfigurationError, match=r"funasr-realtime\[fast\]"):
        choose_transport("picows")


def test_the_cloud_still_needs_a_key_and_keeps_its_task_quota() -> None:
    with pytest.raises(fr.ConfigurationError, match="no API key"):
        fr.Client(region="intl", transport="picows")
    client = fr.Client(region="intl", api_key=fake_key(), transport="picows")
    assert task_limiter(client.config, fr.Resilience()) is not None


# ---------------------------------------------------------------------------- a real server


async def test_a_stream_on_the_real_server_gets_the_exact_transcript(grammar_server: ServerThread) -> None:
    speech = load_speech("s1")
    client = fr.Client(url=grammar_server.url, transport="picows")
    async with client.stream(language_hints=["en"]) as stream:
        for frame in chunks(speech.pcm):
            await stream.send_audio(frame)
        await stream.finish()
        texts = [
            event.sentence.text async for event in stream if isinstance(event, fr.SentenceEvent) and event.is_final
        ]
    assert " ".join(texts) == speech.text


async def test_send_recv_ping_and_close_on_the_real_server(grammar_server: ServerThread) -> None:
    transport = await opened(grammar_server.url)
    assert transport.is_open and not transport.congested and transport.backlog() >= 0
    answered = transport.ping()
    await transport.send('{"header": {"action": "nonsense"}}')  # the server answers a task-failed
    assert isinstance(await asyncio.wait_for(transport.recv(), scaled(5)), str)
    await until(answered)
    await transport.close(1000, "bye")
    assert not transport.is_open and not transport.try_send(b"\0\0")
    with pytest.raises(fr.ConnectionClosed):
        await transport.send(b"\0\0")
    with pytest.raises(fr.ConnectionClosed):
        await transport.recv()
    transport.abort()  # idempotent


# ---------------------------------------------------------------------------- the handshake


async def test_the_handshake_carries_the_key_workspace_and_headers() -> None:
    seen: list[dict[str, str]] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append({name.lower(): value for name, value in ws.request.headers.raw_items()})
        await ws.close()

    key = fake_key()
    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/api-ws/v1/inference"
        transport = await opened(url, api_key=key, workspace="ws-1", data_inspection=True, headers={"X-Extra": "1"})
        await transport.close()
        await opened(url, headers={"user-agent": "mine/1"})
    assert seen[0]["authorization"] == f"Bearer {key}"
    assert seen[0]["x-dashscope-workspace"] == "ws-1"
    assert seen[0]["x-dashscope-datainspection"] == "enable"
    assert seen[0]["x-extra"] == "1" and seen[0]["user-agent"].startswith("funasr-realtime/")
    assert seen[1]["user-agent"] == "mine/1"


@pytest.mark.parametrize("status", [401, 429, 499])
async def test_a_refused_handshake_is_handshake_rejected_with_its_status(
    status: int, grammar_server: ServerThread
) -> None:
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(status)
        with pytest.raises(fr.HandshakeRejected) as caught:
            await opened(proxy.url)
    assert caught.value.status_code == status and caught.value.reason == "Injected"


async def test_unreachable_silent_and_broken_peers_fail_typed_and_bounded() -> None:
    async def silent(peer: RawPeer) -> None:
        await asyncio.sleep(scaled(10))  # never answers the upgrade

    async def not_websocket(peer: RawPeer) -> None:
        peer.writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: nope\r\n\r\n")
        await peer.writer.drain()
        await asyncio.sleep(scaled(10))

    with pytest.raises(fr.ConnectError):
        await opened("ws://127.0.0.1:9/api-ws/v1/inference")
    async with raw_peer_without_handshake(silent) as url:
        with pytest.raises(fr.TransportTimeout, match="connect"):
            await asyncio.wait_for(opened(url), scaled(5))
    async with raw_peer_without_handshake(not_websocket) as url:
        with pytest.raises(fr.ConnectError, match="handshake failed"):
            await opened(url)


async def test_tls_is_spoken_to_a_wss_url() -> None:
    async def plain(peer: RawPeer) -> None:
        peer.writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # not a TLS server hello
        await peer.writer.drain()

    async with raw_peer_without_handshake(plain) as url:
        with pytest.raises(fr.ConnectError, match=r"TLS|cannot connect"):
            await opened(url.replace("ws://", "wss://"), api_key=fake_key())


def test_picows_errors_translate_to_the_error_tree() -> None:
    from picows import WSError, WSHandshakeError, WSInvalidURL

    assert isinstance(translate(WSInvalidURL("x://", "scheme isn't ws or wss"), "connect"), fr.ConfigurationError)
    error = translate(WSError(f"failed near Bearer {fake_key()}"), "connect")
    assert isinstance(error, fr.ConnectError) and fake_key() not in str(error) and error.__cause__ is None
    plain = ValueError("not ours")
    assert translate(plain, "connect") is plain
    with pytest.raises(ValueError, match="not ours"), translated("connect"):
        raise plain
    garbled = WSHandshakeError("bad status line", b"HTTP/1.1 abc nope\r\n", b"")
    assert type(translate(garbled, "connect")) is fr.ConnectError
    factory = PicowsTransport
    assert choose_transport(factory) is factory


# ---------------------------------------------------------------------------- hostile peers


async def test_close_codes_and_reasons_reach_the_error_redacted() -> None:
    key = fake_key()

    async def closes(peer: RawPeer) -> None:
        await peer.read_frame()
        reason = f"bye {key}".encode()
        peer.writer.write(bytes([0x80 | CLOSE, 2 + len(reason)]) + struct.pack("!H", 4001) + reason)
        await peer.writer.drain()
        assert (await peer.read_frame())[0] == CLOSE  # the client answers the close

    async with raw_peer(closes) as (url, _):
        transport = await opened(url, api_key=key)
        await transport.send("{}")
        with pytest.raises(fr.ConnectionClosed) as caught:
            await asyncio.wait_for(transport.recv(), scaled(5))
        await transport.close()
    assert caught.value.code == 4001 and key not in str(caught.value) and "bye" in caught.value.reason


async def test_an_empty_close_frame_is_no_status_and_a_reset_is_no_close_frame(grammar_server: ServerThread) -> None:
    async with FaultProxy(grammar_server.url) as proxy:
        transport = await opened(proxy.url)
        proxy.close_with(1011, "overloaded")
        with pytest.raises(fr.ConnectionClosed) as closed:
            await asyncio.wait_for(transport.recv(), scaled(5))
        second = await opened(proxy.url)
        proxy.drop()
        with pytest.raises(fr.ConnectionClosed) as dropped:
            await asyncio.wait_for(second.recv(), scaled(5))
    assert (closed.value.code, closed.value.reason) == (1011, "overloaded")
    assert dropped.value.code is None

    async def empty_close(peer: RawPeer) -> None:
        peer.writer.write(bytes([0x80 | CLOSE, 0]))
        await peer.writer.drain()
        await peer.read_frame()

    async with raw_peer(empty_close) as (url, _):
        transport = await opened(url)
        with pytest.raises(fr.ConnectionClosed) as empty:
            await asyncio.wait_for(transport.recv(), scaled(5))
    assert empty.value.code == 1005


@pytest.mark.parametrize(
    "garbage",
    [b"\x83\x00", b"\x81\x02\xff\xfe", b"\x81\xfe\x00\x10" + b"x" * 16, b"\x01\x01a\x80\x01" + b"\xff"],
    ids=["bad-opcode", "invalid-utf8", "masked-by-server", "invalid-utf8-fragments"],
)
async def test_garbage_from_the_peer_ends_the_connection_typed(garbage: bytes) -> None:
    async def hostile(peer: RawPeer) -> None:
        peer.writer.write(garbage)
        await peer.writer.drain()
        await asyncio.sleep(scaled(5))

    async with raw_peer(hostile) as (url, _):
        transport = await opened(url)
        with pytest.raises(fr.ConnectionClosed):
            await asyncio.wait_for(transport.recv(), scaled(5))
        assert not transport.is_open


async def test_a_fragmented_message_over_the_size_limit_ends_the_connection() -> None:
    async def too_big(peer: RawPeer) -> None:
        chunk = b"x" * 65536
        peer.writer.write(b"\x01\x7f" + len(chunk).to_bytes(8, "big") + chunk)
        for _ in range(17):  # 18 x 64 KiB: over the 1 MiB message limit
            peer.writer.write(b"\x00\x7f" + len(chunk).to_bytes(8, "big") + chunk)
        await peer.writer.drain()
        await asyncio.sleep(scaled(5))

    async with raw_peer(too_big) as (url, _):
        transport = await opened(url)
        with pytest.raises(fr.ConnectionClosed):
            await asyncio.wait_for(transport.recv(), scaled(5))


async def test_fragments_binary_and_a_flood_are_all_delivered_in_order() -> None:
    async def sends(peer: RawPeer) -> None:
        peer.writer.write(b"\x01\x03abc\x00\x02de\x80\x01f")  # one text message in three fragments
        peer.writer.write(b"\x82\x02\x00\x01")  # a binary message
        for i in range(40):  # more than the receive queue holds: reading pauses, then resumes
            await peer.send_text(f"m{i}")
        await asyncio.sleep(scaled(5))

    async with raw_peer(sends) as (url, _):
        transport = await opened(url)
        first = await asyncio.wait_for(transport.recv(), scaled(5))
        await asyncio.sleep(0.2)  # let the flood fill the queue
        got = [first] + [await asyncio.wait_for(transport.recv(), scaled(5)) for _ in range(41)]
        await transport.close()
    assert got[:2] == ["abcdef", b"\x00\x01"] and got[2:] == [f"m{i}" for i in range(40)]


async def test_a_peer_that_never_answers_leaves_pings_unanswered_and_close_bounded() -> None:
    async def discards(peer: RawPeer) -> None:
        await peer.discard_forever()

    async with raw_peer(discards) as (url, peers):
        transport = await opened(url)
        answered = transport.ping()
        await asyncio.sleep(0.3)
        assert not answered()
        started = asyncio.get_running_loop().time()
        await transport.close()
        elapsed = asyncio.get_running_loop().time() - started
        assert answered()  # a close ends every wait for a pong
    assert elapsed < scaled(TIMEOUTS.close + 1)
    assert peers[0].opcodes[-1] == CLOSE


async def test_a_peer_that_stops_reading_congests_and_send_waits() -> None:
    async def stops_reading(peer: RawPeer) -> None:
        await asyncio.sleep(scaled(10))

    async with raw_peer(stops_reading, receive_buffer=4096) as (url, _):
        transport = await opened(url)
        frame = b"\x00" * 3200
        await until(lambda: not transport.try_send(frame), step=0)
        assert transport.congested and transport.backlog() > 16 * 1024
        with pytest.raises(TimeoutError):  # past the write limit a send waits for the peer
            async with asyncio.timeout(scaled(2)):
                while True:
                    await transport.send(frame)
        transport.abort()
        assert not transport.is_open and transport.backlog() == 0


class _BrokenWrites:
    """A picows transport whose writes fail (everything else is the real one's)."""

    def __init__(self, real: object) -> None:
        self._real = real

    def send(self, *args: object) -> None:
        raise RuntimeError("transport refused the write")

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


async def test_a_failed_write_terminates_the_connection_and_fails_the_task(grammar_server: ServerThread) -> None:
    connection = await Connection.open(config(grammar_server.url))
    task = await connection.start_task(RecognitionParams())
    transport = connection._transport
    assert isinstance(transport, PicowsTransport)
    transport._ws = _BrokenWrites(transport._ws)  # type: ignore[assignment]
    assert task.try_send_audio(bytes(3200)), "the audio is committed; the stream's replay covers it"
    async with asyncio.timeout(scaled(5)):
        await task.wait_done()
    assert isinstance(task.error, fr.ConnectionClosed) and not connection.alive
    await connection.aclose()


async def test_the_key_is_in_no_log_record_even_at_picows_debug_level(
    grammar_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)
    key = fake_key()
    transport = await opened(grammar_server.url, api_key=key)
    await transport.send(f'{{"header": {{"action": "nonsense", "note": "{"x" * 80} {key}"}}}}')
    assert transport.try_send(b"\0\0")
    await asyncio.wait_for(transport.recv(), scaled(5))
    await transport.close()
    records = "\n".join(record.getMessage() for record in caplog.records)
    assert "Send upgrade request" in records and key not in records
    assert "> TEXT" in records and "< TEXT" in records and "> BINARY [2 bytes]" in records
    assert not [r for r in caplog.records if r.levelno == logging.INFO and r.name == "funasr_realtime.wire"]


# ---------------------------------------------------------------------------- helpers


async def until(condition: Callable[[], bool], *, step: float = 0.01, limit: float = 10.0) -> None:
    """Poll ``condition`` (bounded: ``limit`` seconds, scaled)."""
    async with asyncio.timeout(scaled(limit)):
        for _ in iter(int, 1):  # forever, until the timeout
            if condition():
                return
            await asyncio.sleep(step)


@contextlib.asynccontextmanager
async def raw_peer_without_handshake(handler: Callable[[RawPeer], Awaitable[None]]) -> AsyncIterator[str]:
    """A bare TCP peer that writes what ``handler`` writes, with no WebSocket handshake."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(RawPeer(reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/api-ws/v1/inference"
    finally:
        server.close()
