"""The SDK's result idioms, on compat's results and on the official SDK's, from the same local server.

SDK programs treat a ``RecognitionResult`` as the dict it is there (a ``DashScopeAPIResponse``):
``result["status_code"]``, ``result.get("request_id")``, ``json.dumps(result)``,
``isinstance(result, dict)``, ``result.output.sentence``. Each idiom below is written once,
as an SDK program writes it, and run on both libraries' results.
"""

from __future__ import annotations

import copy
import json
import pickle
import threading
from http import HTTPStatus
from typing import Any

import dashscope as sdk
import pytest
from dashscope.audio import asr as sdk_asr

import funasr_realtime.compat as compat
from funasr_realtime.server.thread import ServerThread
from tests.conftest import chunks, load_speech

pytestmark = pytest.mark.timeout(120)

S1 = load_speech("s1")
#: The keys of the SDK's results, in its order (dashscope 2.0.2, read from its results below).
KEYS = ["status_code", "request_id", "code", "message", "usages", "output", "usage"]
FRAME = 3200


@pytest.fixture
def both(local: str, grammar_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> ServerThread:
    """compat (``local``) and the official SDK both pointed at the grammar server."""
    monkeypatch.setattr(sdk, "base_websocket_api_url", grammar_server.url)
    monkeypatch.setattr(sdk, "api_key", "any")
    return grammar_server


LIBRARIES = pytest.mark.parametrize("library", [compat.audio.asr, sdk_asr], ids=["compat", "dashscope"])


def collector(library: Any) -> Any:
    """A callback of ``library`` that keeps every result."""

    class Collect(library.RecognitionCallback):
        def __init__(self) -> None:
            self.events: list[Any] = []
            self.errors: list[Any] = []
            self.closed = threading.Event()

        def on_event(self, result: Any) -> None:
            self.events.append(result)

        def on_error(self, result: Any) -> None:
            self.errors.append(result)

        def on_close(self) -> None:
            self.closed.set()

    return Collect()


def stream(library: Any, model: str = "fun-asr-realtime") -> Any:
    """Stream s1 in 100 ms frames, as the SDK's samples do (positional arguments, as they may)."""
    callback = collector(library)
    recognition = library.Recognition(model, callback, "pcm", 16000)
    recognition.start()
    for frame in chunks(S1.pcm, FRAME):
        recognition.send_audio_frame(frame)
    recognition.stop()
    return callback


def event_idioms(library: Any, result: Any) -> dict[str, Any]:
    """Everything an SDK program reads from an ``on_event`` result; returns what it saw."""
    assert isinstance(result, dict)
    assert list(result) == KEYS
    assert result["status_code"] == result.status_code == HTTPStatus.OK
    assert result.get("request_id") == result.request_id == result.get_request_id() != ""
    assert (result["code"], result.get("message")) == ("", "")
    assert result.get("no_such_key", "default") == "default"
    assert getattr(result, "headers", None) is None and not hasattr(result, "headers")
    assert isinstance(result.output, dict)
    sentence = result.output.sentence
    assert sentence is result.get_sentence() is result["output"]["sentence"]
    decoded = json.loads(json.dumps(result, ensure_ascii=False))
    assert decoded["output"]["sentence"] == sentence
    final = library.RecognitionResult.is_sentence_end(sentence)
    usage = result.get_usage(sentence)
    if final:
        assert usage == result.usage == result["usage"]
        assert usage["duration"] == 3  # s1 is 2.9 s; the service bills whole seconds
        assert [u["usage"] for u in result.usages] == [usage]
    else:
        assert usage is None and result.usage is None
        assert not result.usages  # the SDK: None; compat: [] (both falsy, both iterable with `or []`)
    del decoded["request_id"], decoded["usages"]
    return {"final": final, "json": decoded}


@LIBRARIES
def test_on_event_results_are_dicts_with_attribute_access(both: ServerThread, library: Any) -> None:
    callback = stream(library)
    assert callback.errors == []
    seen = [event_idioms(library, result) for result in callback.events]
    *partials, final = seen
    assert partials and not any(s["final"] for s in partials)
    assert final["final"] and final["json"]["output"]["sentence"]["text"] == S1.text


def test_compat_and_the_sdk_give_the_same_final_result(both: ServerThread) -> None:
    compat_final = [event_idioms(compat, r) for r in stream(compat.audio.asr).events][-1]
    sdk_final = [event_idioms(sdk_asr, r) for r in stream(sdk_asr).events][-1]
    assert compat_final == sdk_final


def error_idioms(result: Any) -> dict[str, Any]:
    """What an SDK program reads from an ``on_error`` result."""
    assert isinstance(result, dict)
    assert list(result) == KEYS
    assert result["status_code"] == result.status_code != HTTPStatus.OK
    assert result.get("code") == "ModelNotFound"
    assert "no-such-model" in result["message"]
    assert result.output is None and result.get_sentence() is None and result.usage is None
    decoded = json.loads(json.dumps(result))
    return {key: decoded[key] for key in ("code", "message", "output", "usage")}


def test_on_error_results_are_dicts_in_both(both: ServerThread) -> None:
    seen = []
    for library in (compat.audio.asr, sdk_asr):
        callback = collector(library)
        recognition = library.Recognition("no-such-model", callback, "pcm", 16000)
        recognition.start()
        assert callback.closed.wait(10), "the failed task ends with on_error, then on_close"
        [error] = callback.errors
        seen.append(error_idioms(error))
    assert seen[0] == seen[1]


def call_idioms(result: Any) -> dict[str, Any]:
    """What an SDK program reads from ``call()``'s result (there, ``output`` is a plain dict)."""
    assert isinstance(result, dict)
    assert list(result) == KEYS
    assert result["status_code"] == HTTPStatus.OK
    sentences = result["output"]["sentence"]
    assert sentences == result.get_sentence() and isinstance(sentences, list)
    assert result.usage["duration"] == result["usages"][-1]["usage"]["duration"] == 3
    decoded = json.loads(json.dumps(result))
    del decoded["request_id"]
    return decoded


def test_call_results_are_dicts_in_both(both: ServerThread) -> None:
    seen = [lib.Recognition("fun-asr-realtime", None, "wav", 16000).call(str(S1.path)) for lib in (compat, sdk_asr)]
    compat_result, sdk_result = seen
    assert call_idioms(compat_result) == call_idioms(sdk_result)
    # compat's output is dict-like on call() results too (the SDK's is a plain dict there).
    assert compat_result.output.sentence[0]["text"] == S1.text


# --------------------------------------------------------------------------- compat's results alone

FINAL = {"begin_time": 0, "end_time": 900, "text": "hi", "words": [], "sentence_end": True}


def final_result() -> compat.RecognitionResult:
    usages = [{"end_time": 900, "usage": {"duration": 1}}]
    return compat.RecognitionResult(request_id="t1", sentence=FINAL, usages=usages)


def test_attributes_and_keys_are_one() -> None:
    result = final_result()
    result.extra_field = "x"  # as in the SDK, a new attribute is a new key
    assert result["extra_field"] == "x"
    result["status_code"] = 500
    assert result.status_code == 500
    del result.extra_field
    assert "extra_field" not in result
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = result.nothing
    assert result.usage.duration == 1 and result.output.sentence["text"] == "hi"
    assert dict(result)["output"] == {"sentence": FINAL}


def test_results_copy_pickle_and_print() -> None:
    result = final_result()
    for clone in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert type(clone) is compat.RecognitionResult and clone == result
        assert clone.output.sentence == FINAL and clone.get_usage(FINAL) == {"duration": 1}
    assert json.loads(str(result)) == {k: json.loads(json.dumps(result))[k] for k in KEYS if k != "usages"}
    assert repr(result).startswith("RecognitionResult({'status_code': 200")
