"""compat's ``VocabularyService`` beside the official SDK's, both against the local server.

The SDK's hot-word sample runs with only its imports changed; the same calls through the
SDK and through compat give the same results, the same exceptions and the same ``str()``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import dashscope
import pytest
from dashscope.audio import asr as sdk_asr
from pydantic import SecretStr

import funasr_realtime.compat as compat
from funasr_realtime import FunAsrError
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import unused_url
from tests.conftest import GRAMMAR, SPEECH
from tests.timing import scaled

pytestmark = pytest.mark.timeout(120)

KEY = "local-" + "vocab-compat-key"
WORDS = [{"text": "Fun-ASR", "weight": 4}, {"text": "阿里云", "weight": 5, "lang": "zh"}]
ID = re.compile(r"vocab-[0-9a-z]+-[0-9a-f]{32}")

# The SDK's hot-word sample (Model Studio, "Custom hot words", real-time Python), with the
# sample file and the key from the environment; the imports are swapped by the test.
SAMPLE = """\
import dashscope
from dashscope.audio.asr import *

prefix = 'prefix'
target_model = "fun-asr-realtime"

my_vocabulary = [
    {"text": "吴贻弓", "weight": 4, "lang": "zh"},
    {"text": "阙里人家", "weight": 4, "lang": "zh"}
]

service = VocabularyService()
vocabulary_id = service.create_vocabulary(
    prefix=prefix,
    target_model=target_model,
    vocabulary=my_vocabulary)
print(f"your vocabulary id is {vocabulary_id}")

if service.query_vocabulary(vocabulary_id)['status'] == 'OK':
    recognition = Recognition(model=target_model,
                              format='wav',
                              sample_rate=16000,
                              callback=None,
                              vocabulary_id=vocabulary_id)
    result = recognition.call('s1_16k.wav')
    print(result.get_sentence()[0]['text'] if result.status_code == 200 else result.message)
    print([entry['vocabulary_id'] == vocabulary_id for entry in service.list_vocabularies(prefix=prefix)])
    service.update_vocabulary(vocabulary_id, [{"text": "Paraformer", "weight": 2}])
    print(service.query_vocabulary(vocabulary_id)['vocabulary'])
    service.delete_vocabulary(vocabulary_id)
    try:
        service.query_vocabulary(vocabulary_id)
    except VocabularyServiceException as e:
        print(e)
"""
COMPAT_IMPORTS = {
    "import dashscope\n": "import funasr_realtime.compat as dashscope\n",
    "from dashscope.audio.asr import *\n": "from funasr_realtime.compat import *\n",
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr(KEY))) as running:
        yield running


@pytest.fixture
def both(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The SDK's service and compat's, each pointed at the local server by its module settings."""
    for module in (dashscope, compat):
        monkeypatch.setattr(module, "api_key", KEY)
        monkeypatch.setattr(module, "base_http_api_url", server.http_url)
        monkeypatch.setattr(module, "base_websocket_api_url", server.url)
    return {"sdk": sdk_asr.VocabularyService(), "compat": compat.VocabularyService()}


def normalized(text: str) -> str:
    """Ids and request ids replaced, so two runs compare equal."""
    text = ID.sub("ID", text)
    return re.sub(r"Request: [0-9a-f-]*,", "Request: R,", text)


def without_times(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if not k.startswith("gmt_")}


def failure(call: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as raised:
        call()
    return raised.value


# --------------------------------------------------------------------------- the SDK's sample


def test_the_sdks_hot_word_sample_runs_with_its_imports_changed(server: ServerThread, tmp_path: Any) -> None:
    (tmp_path / "s1_16k.wav").write_bytes((SPEECH / "s1_16k.wav").read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    env |= {"DASHSCOPE_API_KEY": KEY, "DASHSCOPE_HTTP_BASE_URL": server.http_url}
    env |= {"DASHSCOPE_WEBSOCKET_BASE_URL": server.url}
    program = SAMPLE
    for sdk_line, compat_line in COMPAT_IMPORTS.items():
        assert sdk_line in program
        program = program.replace(sdk_line, compat_line)
    outputs = []
    for code in (SAMPLE, program):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=scaled(60),
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(normalized(done.stdout))
    sdk, ours = outputs
    assert ours == sdk
    lines = ours.splitlines()
    assert lines[0] == "your vocabulary id is ID" and lines[2] == "[True]"
    assert lines[3] == "[{'text': 'Paraformer', 'weight': 2}]"
    assert lines[4] == "Request: R, Status Code: 404, Code: NotFound, Error Message: Vocabulary not found: 'ID'"


# --------------------------------------------------------------------------- side by side


def test_the_same_calls_give_the_same_results(both: dict[str, Any]) -> None:
    results: dict[str, list[Any]] = {}
    for name, service in both.items():
        vocabulary_id = service.create_vocabulary("fun-asr-realtime", "side", WORDS)
        assert ID.fullmatch(vocabulary_id) and vocabulary_id.startswith("vocab-side-")
        assert service.get_last_request_id()
        listed = service.list_vocabularies(prefix="side", page_index=0, page_size=10)
        queried = service.query_vocabulary(vocabulary_id)
        updated = service.update_vocabulary(vocabulary_id, [{"text": "Paraformer", "weight": 2}])
        requeried = service.query_vocabulary(vocabulary_id)
        deleted = service.delete_vocabulary(vocabulary_id)
        results[name] = [
            [sorted(entry) for entry in listed],
            [entry["vocabulary_id"] == vocabulary_id for entry in listed],
            [entry["status"] for entry in listed],
            without_times(queried),
            sorted(queried),
            updated,
            without_times(requeried),
            deleted,
            service.list_vocabularies(prefix="side"),
        ]
    assert results["compat"] == results["sdk"]
    assert results["compat"][3] == {"status": "OK", "target_model": "fun-asr-realtime", "vocabulary": WORDS}


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        (lambda s: s.query_vocabulary("vocab-none-0"), 404, "NotFound"),
        (lambda s: s.delete_vocabulary("vocab-none-0"), 404, "NotFound"),
        (
            lambda s: s.create_vocabulary("fun-asr-realtime", "ok", [{"text": "x", "weight": 6}]),
            400,
            "InvalidParameter",
        ),
        (lambda s: s.create_vocabulary("fun-asr-realtime", "UPPER", WORDS), 400, "InvalidParameter"),
        (lambda s: s.update_vocabulary("vocab-none-0", WORDS), 404, "NotFound"),
        (lambda s: s.create_vocabulary("fun-asr-realtime", "ok", []), 400, "InvalidParameter"),
    ],
)
def test_the_same_failures_raise_the_same_exception(
    both: dict[str, Any], call: Callable[[Any], object], status: int, code: str
) -> None:
    errors = {name: failure(lambda service=service: call(service)) for name, service in both.items()}
    assert type(errors["sdk"]) is sdk_asr.VocabularyServiceException
    assert type(errors["compat"]) is compat.VocabularyServiceException
    assert isinstance(errors["compat"], FunAsrError)
    assert normalized(str(errors["compat"])) == normalized(str(errors["sdk"]))
    assert f"Status Code: {status}, Code: {code}," in str(errors["compat"])
    exc = errors["compat"]
    assert isinstance(exc, compat.VocabularyServiceException)
    assert (exc.status_code, exc.code, exc._status_code, exc._code) == (status, code, status, code)


def test_bad_items_are_refused_by_compat_without_a_request(both: dict[str, Any], server: ServerThread) -> None:
    before = len(server.server.vocabularies)
    error = failure(lambda: both["compat"].create_vocabulary("fun-asr-realtime", "ok", [{"text": "x", "weight": 0}]))
    assert isinstance(error, compat.VocabularyServiceException) and error.request_id == ""
    assert len(server.server.vocabularies) == before


def test_a_wrong_key_is_a_401_for_both(both: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (dashscope, compat):
        monkeypatch.setattr(module, "api_key", "wrong-" + "key")
    errors = [failure(lambda service=service: service.list_vocabularies()) for service in both.values()]
    assert [normalized(str(error)) for error in errors] == [
        "Request: R, Status Code: 401, Code: InvalidApiKey, Error Message: Invalid API-key provided."
    ] * 2


def test_the_constructors_key_and_workspace_override_the_module(server: ServerThread, both: dict[str, Any]) -> None:
    keyed = compat.VocabularyService(api_key=KEY, workspace="ws-local")
    compat.api_key = None  # restored by the fixture's monkeypatch
    vocabulary_id = keyed.create_vocabulary("fun-asr-realtime", "ctor", WORDS)
    keyed.delete_vocabulary(vocabulary_id)
    assert keyed.get_last_request_id() and keyed.model == "speech-biasing"


def test_an_unreachable_server_is_a_bounded_vocabulary_service_exception(
    both: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = unused_url()
    monkeypatch.setattr(compat, "base_http_api_url", None)
    monkeypatch.setattr(compat, "base_websocket_api_url", url)  # the HTTP base follows it
    monkeypatch.setattr(compat.VocabularyService, "RETRY_DELAY", 0.05)
    started = time.monotonic()
    error = failure(lambda: compat.VocabularyService().list_vocabularies())
    assert time.monotonic() - started < scaled(10)
    assert isinstance(error, compat.VocabularyServiceException)
    assert (error.status_code, error.code) == (503, "ConnectError") and "customization" in error.error_message
