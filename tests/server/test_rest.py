"""The local server's HTTP API on its WebSocket port: vocabularies and temporary keys.

The official SDK's own ``VocabularyService`` is the client that proves the routes; raw
requests prove the refusals; the WebSocket side proves that a vocabulary id and a minted
key are honoured, and that unknown ids and expired keys are refused as the service does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from dashscope.audio.asr import Recognition, VocabularyService, VocabularyServiceException
from pydantic import SecretStr
from tests.conftest import GRAMMAR, SPEECH, load_speech
from tests.server.sdk import sdk_vocabulary_service
from tests.timing import scaled

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread

pytestmark = pytest.mark.timeout(60)

KEY = "local-" + "vocabulary-key"
WORDS = [{"text": "Fun-ASR", "weight": 4}, {"text": "阿里云", "weight": 5, "lang": "zh"}]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr(KEY))) as running:
        yield running


@pytest.fixture
def sdk(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> VocabularyService:
    return sdk_vocabulary_service(server, KEY, monkeypatch)


def _post(
    server: ServerThread, path: str, body: object = None, *, key: str | None = KEY, **params: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.post(f"{server.http_url}{path}", json=body, headers=headers, params=params, timeout=scaled(10))


# --------------------------------------------------------------------------- the SDK's VocabularyService


def test_the_sdks_vocabulary_service_creates_lists_queries_updates_and_deletes(sdk: VocabularyService) -> None:
    vocabulary_id = sdk.create_vocabulary(target_model="fun-asr-realtime", prefix="crud", vocabulary=WORDS)
    assert vocabulary_id.startswith("vocab-crud-")
    assert sdk.get_last_request_id()

    listed = sdk.list_vocabularies(prefix="crud")
    assert [entry["vocabulary_id"] for entry in listed] == [vocabulary_id]
    assert listed[0]["status"] == "OK" and listed[0]["gmt_create"]

    details = sdk.query_vocabulary(vocabulary_id)
    assert details["target_model"] == "fun-asr-realtime" and details["status"] == "OK"
    assert details["vocabulary"] == WORDS

    sdk.update_vocabulary(vocabulary_id, [{"text": "Paraformer", "weight": 2}])
    assert sdk.query_vocabulary(vocabulary_id)["vocabulary"] == [{"text": "Paraformer", "weight": 2}]

    sdk.delete_vocabulary(vocabulary_id)
    assert sdk.list_vocabularies(prefix="crud") == []
    with pytest.raises(VocabularyServiceException) as raised:
        sdk.query_vocabulary(vocabulary_id)
    assert "404" in str(raised.value) and "NotFound" in str(raised.value)


def test_the_list_is_paged_and_filtered_by_prefix(sdk: VocabularyService) -> None:
    ids = [sdk.create_vocabulary("fun-asr-realtime", "page", [{"text": f"word{i}"}]) for i in range(5)]
    other = sdk.create_vocabulary("fun-asr-realtime", "other", [{"text": "x"}])
    pages = [sdk.list_vocabularies(prefix="page", page_index=i, page_size=2) for i in range(3)]
    assert [[entry["vocabulary_id"] for entry in page] for page in pages] == [ids[:2], ids[2:4], ids[4:]]
    assert other in [entry["vocabulary_id"] for entry in sdk.list_vocabularies(page_size=100)]
    for vocabulary_id in [*ids, other]:
        sdk.delete_vocabulary(vocabulary_id)


@pytest.mark.parametrize(
    ("prefix", "items", "reason"),
    [
        ("UPPER", WORDS, "prefix"),
        ("waytoolongprefix", WORDS, "prefix"),
        ("ok", [{"text": "x", "weight": 6}], "weight"),
        ("ok", [{"text": "一二三四五六七八九十一二三四五六"}], "15 characters"),
        ("ok", [{"text": "one two three four five six seven eight"}], "7 words"),
        ("ok", [], "at least one"),
        ("ok", [{"txt": "typo"}], "text"),
    ],
)
def test_items_the_service_would_refuse_are_refused_with_invalid_parameter(
    sdk: VocabularyService, prefix: str, items: list[dict[str, object]], reason: str
) -> None:
    with pytest.raises(VocabularyServiceException) as raised:
        sdk.create_vocabulary("fun-asr-realtime", prefix, items)
    text = str(raised.value)
    assert "Status Code: 400" in text and "InvalidParameter" in text and reason in text


def test_a_stream_may_use_a_stored_vocabulary_and_an_unknown_one_fails_as_not_found(
    sdk: VocabularyService, server: ServerThread
) -> None:
    vocabulary_id = sdk.create_vocabulary("fun-asr-realtime", "stream", WORDS)
    recognition = Recognition(
        model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None, vocabulary_id=vocabulary_id
    )
    result = recognition.call(str(SPEECH / "s1_16k.wav"))
    assert result.status_code == 200 and result.get_sentence()

    unknown = Recognition(
        model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None, vocabulary_id="vocab-none-0"
    )
    failed = unknown.call(str(SPEECH / "s1_16k.wav"))
    assert failed.status_code != 200 and failed.code == "NotFound"
    assert "vocab-none-0" in failed.message


async def test_the_core_client_sees_an_unknown_vocabulary_as_a_permanent_not_found(server: ServerThread) -> None:
    client = fr.Client(url=server.url, api_key=KEY)
    with pytest.raises(fr.TaskFailedError) as raised:
        async with asyncio.timeout(scaled(20)):
            async with client.stream(vocabulary_id="vocab-none-1") as stream:
                await stream.send_audio(bytes(3200))
                await stream.finish()
    assert raised.value.error_code == "NotFound"
    assert fr.classify(raised.value) is fr.ErrorKind.NOT_FOUND and not fr.is_retryable(raised.value)


# --------------------------------------------------------------------------- temporary keys


def test_a_minted_key_opens_streams_until_it_expires(server: ServerThread) -> None:
    before = time.time()
    answer = _post(server, "/tokens", expire_in_seconds="2")
    after = time.time()
    assert answer.status_code == 200, answer.text
    token, expires_at = answer.json()["token"], answer.json()["expires_at"]
    # The server mints in whole seconds of its clock, read between ``before`` and ``after``.
    assert token.startswith("st-") and int(before) + 2 <= expires_at <= int(after) + 2

    async def handshake(key: str) -> None:
        client = fr.Client(url=server.url, api_key=key)
        stream = client.stream()
        try:
            await asyncio.wait_for(stream.connect(), scaled(10))
        finally:
            await stream.aclose()

    asyncio.run(handshake(token))
    assert _post(server, "/services/audio/asr/customization", _list_body(), key=token).status_code == 200
    time.sleep(max(0.0, expires_at - time.time()) + 0.2)
    with pytest.raises(fr.HandshakeRejected) as raised:
        asyncio.run(handshake(token))
    assert raised.value.status_code == 401
    expired = _post(server, "/services/audio/asr/customization", _list_body(), key=token)
    assert expired.status_code == 401 and expired.json()["code"] == "InvalidApiKey"


@pytest.mark.parametrize("seconds", ["0", "1801", "-5", "soon"])
def test_a_key_lifetime_outside_1_to_1800_seconds_is_refused(server: ServerThread, seconds: str) -> None:
    answer = _post(server, "/tokens", expire_in_seconds=seconds)
    assert answer.status_code == 400 and answer.json()["code"] == "InvalidParameter"


def test_a_temporary_key_cannot_mint_another(server: ServerThread) -> None:
    token = _post(server, "/tokens").json()["token"]
    answer = _post(server, "/tokens", key=token)
    assert answer.status_code == 401 and answer.json()["code"] == "InvalidApiKey"


# --------------------------------------------------------------------------- refusals


def _list_body() -> dict[str, object]:
    return {"model": "speech-biasing", "input": {"action": "list_vocabulary"}}


@pytest.mark.parametrize(
    ("path", "body", "key", "status", "code"),
    [
        ("/services/audio/asr/customization", _list_body(), None, 401, "InvalidApiKey"),
        ("/services/audio/asr/customization", _list_body(), "wrong", 401, "InvalidApiKey"),
        ("/tokens", None, "wrong", 401, "InvalidApiKey"),
        ("/services/audio/asr/customization", {"input": {"action": "drop_tables"}}, KEY, 400, "InvalidParameter"),
        ("/services/audio/asr/customization", {"model": "other", "input": {}}, KEY, 400, "InvalidParameter"),
        ("/services/audio/asr/customization", {"no": "input"}, KEY, 400, "InvalidParameter"),
        ("/services/audio/asr/customization", [1, 2], KEY, 400, "InvalidParameter"),
        ("/services/nothing/here", _list_body(), KEY, 404, "NotFound"),
    ],
)
def test_requests_the_service_would_refuse(
    server: ServerThread, path: str, body: object, key: str | None, status: int, code: str
) -> None:
    answer = _post(server, path, body, key=key)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.json()["request_id"]
    assert KEY not in answer.text


def test_only_post_is_served_and_a_body_that_is_not_json_is_refused(server: ServerThread) -> None:
    url = f"{server.http_url}/services/audio/asr/customization"
    headers = {"Authorization": f"Bearer {KEY}"}
    assert httpx.put(url, headers=headers, timeout=scaled(10)).status_code == 405
    assert httpx.delete(url, headers=headers, timeout=scaled(10)).status_code == 405
    broken = httpx.post(url, content=b"{not json", headers=headers, timeout=scaled(10))
    assert broken.status_code == 400 and broken.json()["code"] == "InvalidParameter"
    # A GET is the WebSocket's: without an upgrade it is refused, as before.
    assert httpx.get(url, headers=headers, timeout=scaled(10)).status_code == 404


async def test_an_oversized_body_gets_413_and_a_request_that_never_ends_is_closed(server: ServerThread) -> None:
    host, port = server.http_url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)
    big = 2 << 20
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n"
    writer.write(head.encode() + bytes(big))
    line = await asyncio.wait_for(reader.readline(), scaled(10))
    writer.close()
    assert line.startswith(b"HTTP/1.1 413")

    # Half a request, then nothing: the server's handshake timeout ends it (a bounded wait).
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    rest = await asyncio.wait_for(reader.read(), scaled(30))
    writer.close()
    assert rest == b"" and time.monotonic() - started < scaled(30)


async def test_keys_minted_by_the_core_helper_work_on_this_servers_both_sides(server: ServerThread) -> None:
    """``mint_temporary_key`` against the local tokens route, as a key provider: each connect
    gets a fresh temporary key, and the stream recognizes the fixture exactly."""
    minted: list[fr.TemporaryKey] = []

    async def provider() -> str:
        key = await fr.mint_temporary_key(KEY, 60, http_url=server.http_url)
        minted.append(key)
        return key.token.get_secret_value()

    pcm = (SPEECH / "s1_16k.wav").read_bytes()
    client = fr.Client(url=server.url, api_key=provider, resilience=fr.Resilience(standby=False))
    async with asyncio.timeout(scaled(30)):
        async with client.stream(format="wav") as stream:
            await stream.send_audio(pcm)
            await stream.finish()
            events = [event async for event in stream]
    finals = [e.sentence.text for e in events if isinstance(e, fr.SentenceEvent) and e.is_final]
    assert minted and all(key.token.get_secret_value().startswith("st-") for key in minted)
    assert all(time.time() + 50 < key.expires_at <= time.time() + 61 for key in minted)
    assert " ".join(finals) == load_speech("s1").text
    with pytest.raises(fr.ConfigurationError):
        await fr.mint_temporary_key(KEY, 1801, http_url=server.http_url)  # refused before sending
