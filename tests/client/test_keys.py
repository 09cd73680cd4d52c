"""Keys that expire: ``api_key=`` as a provider, asked on every connect, and the one second
chance a rejected provider key gets (client/pool.py, ``ConnectionPool.start_task``).

The local server accepts the keys a :class:`Issuer` minted until they expire on a fake
clock the test moves (``ServerConfig.accept_key``), so a 60 s key and a reconnect 90 s
later take no real minute.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import FaultProxy, MockConnection, MockTransport
from tests.conftest import GRAMMAR, chunks, load_speech
from tests.timing import scaled

NO_STANDBY = fr.Resilience(standby=False)


class Issuer:
    """Mints temporary keys and says whether one is valid now (on a fake clock)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.expiry: dict[str, float] = {}
        self.rejected: list[str] = []
        self._lock = threading.Lock()  # accept() runs on the server's thread

    def mint(self, ttl: float = 60.0) -> str:
        token = "st-" + secrets.token_hex(16)  # built at run time: no key-shaped literal
        with self._lock:
            self.expiry[token] = self.now + ttl
        return token

    def accept(self, token: str) -> bool:
        with self._lock:
            ok = self.now < self.expiry.get(token, float("-inf"))
            if not ok:
                self.rejected.append(token)
            return ok


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def key_server(issuer: Issuer) -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(grammar=GRAMMAR, accept_key=issuer.accept)) as server:
        yield server


async def collect(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


def final_texts(events: list[fr.StreamEvent]) -> list[str]:
    return [e.sentence.text for e in events if isinstance(e, fr.SentenceEvent) and e.sentence.is_final]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_60s_temporary_key_survives_a_reconnect_90s_later(
    key_server: ServerThread, issuer: Issuer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    minted: list[str] = []

    def mint() -> str:
        minted.append(issuer.mint(60))
        return minted[-1]

    async def mint_async() -> SecretStr:
        await asyncio.sleep(0)
        return SecretStr(mint())

    speech = load_speech("long")
    async with FaultProxy(key_server.url) as proxy:
        client = fr.Client(url=proxy.url, api_key=mint if kind == "sync" else mint_async, resilience=NO_STANDBY)
        assert "provider" in repr(client)
        async with client.stream() as stream:
            reader = asyncio.create_task(collect(stream))
            for n, chunk in enumerate(chunks(speech.pcm)):
                await stream.send_audio(chunk)
                if n == 50:  # 5 s of audio in: 90 s pass, the first key expires, the link drops
                    await asyncio.sleep(scaled(0.2))
                    issuer.now += 90
                    proxy.drop()
            await stream.finish()
            events = await asyncio.wait_for(reader, scaled(30))
    assert len(minted) == 2, "the provider was asked again for the reconnect"
    assert issuer.rejected == [], "the reconnect presented the fresh key, never the expired one"
    assert final_texts(events) == list(speech.texts), "the stream survived"
    reconnects = [e for e in events if isinstance(e, fr.Reconnected)]
    assert len(reconnects) == 1 and reconnects[0].dropped_ms == 0, "no audio lost"
    logged = caplog.text + repr(events)
    assert not any(token in logged for token in minted), "a provider's key never reaches a log"


async def test_a_rejected_provider_key_is_asked_again_once(key_server: ServerThread, issuer: Issuer) -> None:
    """A provider that hands out a key that has just expired: the 401 is not final."""
    stale = issuer.mint(60)
    issuer.now += 61
    answers = iter([stale, issuer.mint(60)])
    asked: list[str] = []

    def provider() -> str:
        asked.append(next(answers))
        return asked[-1]

    speech = load_speech("s1")
    client = fr.Client(url=key_server.url, api_key=provider, resilience=NO_STANDBY)
    async with client.stream() as stream:
        reader = asyncio.create_task(collect(stream))
        for chunk in chunks(speech.pcm):
            await stream.send_audio(chunk)
        await stream.finish()
        events = await asyncio.wait_for(reader, scaled(20))
    assert asked[0] == stale and len(asked) == 2
    assert issuer.rejected == [stale]
    assert final_texts(events) == list(speech.texts)
    assert not any(isinstance(e, fr.Reconnected) for e in events), "refreshed within the attempt"


async def test_a_second_rejection_is_permanent(key_server: ServerThread, issuer: Issuer) -> None:
    asked = 0

    def provider() -> str:
        nonlocal asked
        asked += 1
        return "st-" + secrets.token_hex(16)  # never minted: always rejected

    resilience = fr.Resilience(standby=False, backoff_initial=0.01)
    stream = fr.Client(url=key_server.url, api_key=provider, resilience=resilience).stream()
    await stream.send_audio(b"\x00\x00" * 1600)
    with pytest.raises(fr.HandshakeRejected) as caught:
        await asyncio.wait_for(stream.finish(), scaled(10))
    await stream.aclose()
    assert caught.value.status_code == 401
    assert fr.classify(caught.value) is fr.ErrorKind.AUTHENTICATION
    assert asked == 2, "asked once more, then permanent: never retried by the stream"
    assert len(issuer.rejected) == 2


async def test_a_fixed_key_gets_no_second_chance(grammar_server: ServerThread) -> None:
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(401, count=5)
        stream = fr.Client(url=proxy.url, api_key="fixed-" + secrets.token_hex(8), resilience=NO_STANDBY).stream()
        await stream.send_audio(b"\x00\x00" * 1600)
        with pytest.raises(fr.HandshakeRejected):
            await asyncio.wait_for(stream.finish(), scaled(5))
        await stream.aclose()
        assert proxy.connections == 1


def invalid_key_then_serve(keys_seen: list[str], fail: int) -> MockTransport:
    """Fails the first ``fail`` run-tasks with task-failed InvalidApiKey, then transcribes."""

    async def handler(server: MockConnection) -> None:
        key = server.config.api_key
        keys_seen.append(key.get_secret_value() if key else "")
        await server.run_task()
        if len(keys_seen) <= fail:
            await server.fail_task("InvalidApiKey", "Invalid API-key provided.")
            return
        await server.start_task()
        await server.audio_until_finish()
        await server.result("hello world", final=True)
        await server.finish_task()

    return MockTransport(handler)


@pytest.mark.parametrize(("fail", "succeeds"), [(1, True), (2, False)])
async def test_invalid_api_key_at_run_task_refreshes_once(fail: int, succeeds: bool) -> None:
    keys_seen: list[str] = []
    counter = iter(range(100))

    async def provider() -> str:
        return f"st-test-{next(counter)}-" + secrets.token_hex(8)

    transport = invalid_key_then_serve(keys_seen, fail)
    client = fr.Client(transport=transport, api_key=provider, resilience=NO_STANDBY)
    stream = client.stream()
    await stream.send_audio(b"\x00\x00" * 3200)
    if succeeds:
        async with stream:
            reader = asyncio.create_task(collect(stream))
            await stream.finish()
            events = await asyncio.wait_for(reader, scaled(5))
        assert final_texts(events) == ["hello world"]
    else:
        with pytest.raises(fr.TaskFailedError) as caught:
            await asyncio.wait_for(stream.finish(), scaled(5))
        await stream.aclose()
        assert caught.value.error_code == "InvalidApiKey"
    assert len(keys_seen) == 2 and keys_seen[0] != keys_seen[1], "a new connection with a fresh key"
    assert transport.errors == []


async def test_provider_failures_are_typed() -> None:
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("token service down")
        return "st-" + secrets.token_hex(16)

    config = fr.ClientConfig.resolve(api_key=flaky, transport=MockTransport())
    with pytest.raises(fr.ConnectError, match="provider failed: RuntimeError") as caught:
        await config.with_current_key()
    assert fr.is_retryable(caught.value), "a token service that is down is retried"
    fresh = await config.with_current_key()
    assert fresh.api_key is not None and fresh.api_key.get_secret_value().startswith("st-")
    assert config.api_key is None, "the resolved config holds no key of its own"

    empty = fr.ClientConfig.resolve(api_key=lambda: "", transport=MockTransport())
    with pytest.raises(fr.ConfigurationError, match="returned no key"):
        await empty.with_current_key()


async def test_a_provider_error_text_holding_a_key_is_not_chained() -> None:
    secret = "st-" + secrets.token_hex(16)

    def leaky() -> str:
        raise RuntimeError(f"could not refresh {secret}")

    config = fr.ClientConfig.resolve(api_key=leaky, transport=MockTransport())
    with pytest.raises(fr.ConnectError) as caught:
        await config.with_current_key()
    assert caught.value.__cause__ is None
    assert secret not in str(caught.value)


def test_a_provider_needs_no_key_in_the_environment() -> None:
    config = fr.ClientConfig.resolve(api_key=lambda: "x", region="intl")
    assert config.has_key and config.api_key is None and config.key_provider is not None
