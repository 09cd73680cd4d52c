"""The core's vocabulary client (client/vocabularies.py) against the local server's customization routes.

The local server is the real peer (its HTTP API on the WebSocket port); httpx's
``MockTransport`` stands in only where a test must see the requests themselves (none sent
for bad items, retries counted, headers) or make the network fail.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.conftest import GRAMMAR, chunks, load_speech
from tests.timing import scaled

pytestmark = pytest.mark.timeout(60)

KEY = "local-" + "vocab-core-key"
WORDS = [{"text": "Fun-ASR", "weight": 4}, {"text": "阿里云", "weight": 5, "lang": "zh"}]
MODEL = "fun-asr-realtime"
S1 = load_speech("s1")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr(KEY))) as running:
        yield running


@pytest.fixture
def vocabularies(server: ServerThread) -> fr.Vocabularies:
    return fr.Client(url=server.url, api_key=KEY).vocabularies


def stored(server: ServerThread) -> int:
    return len(server.server.vocabularies)


class Recording:
    """An httpx transport that records each request and answers with ``answer`` (or raises it)."""

    def __init__(self, answer: httpx.Response | Exception | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or httpx.Response(200, json={"request_id": "r", "output": {"vocabulary_list": []}})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def mocked(recording: Recording, **options: object) -> fr.Vocabularies:
    config = fr.ClientConfig.resolve(url="wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference", api_key=KEY)
    return fr.Vocabularies(config, transport=recording.transport(), retry_delay=0.01, **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the routes


async def test_create_list_get_update_delete(vocabularies: fr.Vocabularies) -> None:
    vocabulary_id = await vocabularies.create(MODEL, WORDS, prefix="core")
    assert vocabulary_id.startswith("vocab-core-") and vocabularies.last_request_id

    [entry] = await vocabularies.list(prefix="core")
    assert entry.vocabulary_id == vocabulary_id and entry.status == "OK"
    assert time.strptime(entry.gmt_create, "%Y-%m-%d %H:%M:%S") and entry.raw["vocabulary_id"] == vocabulary_id

    vocabulary = await vocabularies.get(vocabulary_id)
    assert (vocabulary.vocabulary_id, vocabulary.target_model, vocabulary.status) == (vocabulary_id, MODEL, "OK")
    assert vocabulary.words == (fr.HotWord(text="Fun-ASR"), fr.HotWord(text="阿里云", weight=5, lang="zh"))
    assert vocabulary.raw["vocabulary"] == WORDS

    await vocabularies.update(vocabulary_id, ["Paraformer", fr.HotWord(text="DashScope", weight=2)])
    updated = await vocabularies.get(vocabulary_id)
    assert [w.wire() for w in updated.words] == [
        {"text": "Paraformer", "weight": 4},
        {"text": "DashScope", "weight": 2},
    ]

    await vocabularies.delete(vocabulary_id)
    assert await vocabularies.list(prefix="core") == []
    with pytest.raises(fr.ApiError) as raised:
        await vocabularies.get(vocabulary_id)
    assert (raised.value.status_code, raised.value.code) == (404, "NotFound") and raised.value.request_id
    assert fr.classify(raised.value) is fr.ErrorKind.NOT_FOUND and not fr.is_retryable(raised.value)


async def test_entries_walks_every_page(vocabularies: fr.Vocabularies) -> None:
    ids = [await vocabularies.create(MODEL, [f"word{i}"], prefix="walk") for i in range(5)]
    assert [e.vocabulary_id async for e in vocabularies.entries(prefix="walk", page_size=2)] == ids
    assert [e.vocabulary_id for e in await vocabularies.list(prefix="walk", page_index=1, page_size=2)] == ids[2:4]
    for vocabulary_id in ids:
        await vocabularies.delete(vocabulary_id)


async def test_ensure_reuses_the_same_content_and_never_duplicates(
    vocabularies: fr.Vocabularies, server: ServerThread
) -> None:
    first = await vocabularies.ensure(MODEL, WORDS)
    before = stored(server)
    # A restart: a new client, the same words in another order and spelling.
    again = await fr.Client(url=server.url, api_key=KEY).vocabularies.ensure(
        MODEL, [WORDS[1], fr.HotWord(text="Fun-ASR")]
    )
    assert again == first and stored(server) == before
    assert len(first.split("-")[1]) == 9  # the content hash is the prefix

    other_weight = await vocabularies.ensure(MODEL, [{"text": "Fun-ASR", "weight": 5}, WORDS[1]])
    other_model = await vocabularies.ensure("fun-asr-realtime-2025-11-07", WORDS)
    assert len({first, other_weight, other_model}) == 3 and stored(server) == before + 2

    # Same prefix, changed content (someone updated it): not reused.
    await vocabularies.update(first, ["changed"])
    replaced = await vocabularies.ensure(MODEL, WORDS)
    assert replaced != first and (await vocabularies.get(replaced)).raw["vocabulary"] == WORDS
    for vocabulary_id in (first, other_weight, other_model, replaced):
        await vocabularies.delete(vocabulary_id)


async def test_an_ensured_vocabulary_is_used_by_a_stream(server: ServerThread) -> None:
    client = fr.Client(url=server.url, api_key=KEY)
    vocabulary_id = await client.vocabularies.ensure(MODEL, ["speech"])
    texts = []
    async with asyncio.timeout(scaled(30)):
        async with client.stream(sample_rate=S1.sample_rate, vocabulary_id=vocabulary_id) as stream:
            for frame in chunks(S1.pcm):
                await stream.send_audio(frame)
            await stream.finish()
            texts = [e.sentence.text async for e in stream if isinstance(e, fr.SentenceEvent) and e.is_final]
    assert " ".join(texts) == S1.text


async def test_a_key_provider_is_asked_for_every_request(server: ServerThread) -> None:
    asked = []

    async def provider() -> str:
        asked.append(1)
        return KEY

    vocabularies = fr.Client(url=server.url, api_key=provider).vocabularies
    vocabulary_id = await vocabularies.create(MODEL, ["keyed"], prefix="prov")
    await vocabularies.delete(vocabulary_id)
    assert len(asked) == 2


# --------------------------------------------------------------------------- bad input, refusals, failures


@pytest.mark.parametrize(
    ("items", "prefix", "reason"),
    [
        ([{"text": "x", "weight": 6}], "ok", "weight"),
        (["一二三四五六七八九十一二三四五六"], "ok", "15 characters"),
        (["one two three four five six seven eight"], "ok", "7 words"),
        ([], "ok", "at least one"),
        ([{"txt": "typo"}], "ok", "text"),
        (["fine"], "UPPER", "prefix"),
        (["fine"], "waytoolongprefix", "prefix"),
    ],
)
async def test_bad_items_are_refused_before_anything_is_sent(items: list[object], prefix: str, reason: str) -> None:
    recording = Recording()
    vocabularies = mocked(recording)
    with pytest.raises(fr.ConfigurationError, match=reason):
        await vocabularies.create(MODEL, items, prefix=prefix)  # type: ignore[arg-type]
    if prefix == "ok":
        with pytest.raises(fr.ConfigurationError, match=reason):
            await vocabularies.update("vocab-x-1", items)  # type: ignore[arg-type]
        with pytest.raises(fr.ConfigurationError, match=reason):
            await vocabularies.ensure(MODEL, items)  # type: ignore[arg-type]
    assert recording.requests == []


async def test_a_model_without_hot_words_is_refused_before_sending() -> None:
    recording = Recording()
    with pytest.raises(fr.ConfigurationError, match="does not support hot words"):
        await mocked(recording).create("paraformer-realtime-v1", ["x"], prefix="ok")
    assert recording.requests == []


async def test_the_request_is_the_sdks(server: ServerThread) -> None:
    recording = Recording(httpx.Response(200, json={"request_id": "r1", "output": {"vocabulary_id": "vocab-a-1"}}))
    config = fr.ClientConfig.resolve(
        url="wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference", api_key=KEY, workspace="ws-test"
    )
    vocabularies = fr.Vocabularies(config, transport=recording.transport())
    assert await vocabularies.create(MODEL, ["Fun-ASR"], prefix="a") == "vocab-a-1"
    [request] = recording.requests
    assert str(request.url) == "https://dashscope-intl.aliyuncs.com/api/v1/services/audio/asr/customization"
    assert request.method == "POST" and request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-dashscope-workspace"] == "ws-test"
    assert json.loads(request.content) == {
        "model": "speech-biasing",
        "input": {
            "action": "create_vocabulary",
            "target_model": MODEL,
            "prefix": "a",
            "vocabulary": [{"text": "Fun-ASR", "weight": 4}],
        },
        "parameters": {},
    }
    assert vocabularies.last_request_id == "r1"


def test_the_http_base_is_derived_or_given() -> None:
    local = fr.Vocabularies.resolve(url="ws://127.0.0.1:8765/api-ws/v1/inference")
    assert local.url == "http://127.0.0.1:8765/api/v1/services/audio/asr/customization"
    beijing = fr.Vocabularies.resolve(region="cn", api_key=KEY)
    assert beijing.url == "https://dashscope.aliyuncs.com/api/v1/services/audio/asr/customization"
    given = fr.Vocabularies.resolve(api_key=KEY, http_url="https://example.com/api/v1/")
    assert given.url == "https://example.com/api/v1/services/audio/asr/customization"
    with pytest.raises(fr.ConfigurationError, match="unencrypted"):
        fr.Vocabularies.resolve(api_key=KEY, http_url="http://example.com/api/v1")
    assert fr.Vocabularies.resolve(api_key=KEY, http_url="http://example.com/api/v1", allow_insecure=True)


async def test_a_wrong_key_is_a_permanent_authentication_error(server: ServerThread) -> None:
    vocabularies = fr.Client(url=server.url, api_key="wrong-" + "key").vocabularies
    with pytest.raises(fr.ApiError) as raised:
        await vocabularies.list()
    assert (raised.value.status_code, raised.value.code) == (401, "InvalidApiKey")
    assert fr.classify(raised.value) is fr.ErrorKind.AUTHENTICATION and not fr.is_retryable(raised.value)
    assert "wrong-" not in str(raised.value)


async def test_a_parameter_the_server_refuses_is_an_invalid_request(vocabularies: fr.Vocabularies) -> None:
    with pytest.raises(fr.ApiError) as raised:
        await vocabularies.list(page_size=1000)
    assert (raised.value.status_code, raised.value.code) == (400, "InvalidParameter")
    assert fr.classify(raised.value) is fr.ErrorKind.INVALID_REQUEST


async def test_an_unreachable_server_is_retried_then_fails_within_its_bound() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = fr.ClientConfig.resolve(url=f"ws://127.0.0.1:{port}/api-ws/v1/inference")
    vocabularies = fr.Vocabularies(config, retries=2, retry_delay=0.05, timeout=scaled(2))
    started = time.monotonic()
    with pytest.raises(fr.ConnectError, match="customization"):
        await vocabularies.create(MODEL, ["x"], prefix="gone")
    assert time.monotonic() - started < scaled(5)
    assert fr.classify(ConnectionRefusedError()) is fr.ErrorKind.UNREACHABLE


async def test_connect_failures_are_retried_a_bounded_number_of_times() -> None:
    recording = Recording(httpx.ConnectError("refused"))
    with pytest.raises(fr.ConnectError):
        await mocked(recording, retries=3).delete("vocab-a-1")
    assert len(recording.requests) == 4


async def test_a_timed_out_create_is_not_repeated_but_a_timed_out_read_is() -> None:
    recording = Recording(httpx.ReadTimeout("slow"))
    with pytest.raises(fr.TransportTimeout):
        await mocked(recording, retries=3).create(MODEL, ["x"], prefix="a")
    assert len(recording.requests) == 1
    with pytest.raises(fr.TransportTimeout):
        await mocked(recording, retries=3).list()
    assert len(recording.requests) == 1 + 4


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"request_id": "r"}),
        httpx.Response(200, json={"request_id": "r", "output": {"vocabulary_list": "nope"}}),
    ],
)
async def test_an_answer_of_the_wrong_shape_is_a_remote_protocol_error(answer: httpx.Response) -> None:
    with pytest.raises(fr.RemoteProtocolError):
        await mocked(Recording(answer)).list()
