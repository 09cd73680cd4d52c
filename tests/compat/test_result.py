"""``RecognitionResult`` and the module's public surface, as SDK programs use them."""

from __future__ import annotations

import json

import funasr_realtime.compat as compat
from funasr_realtime.compat import RecognitionResult

FINAL = {"begin_time": 0, "end_time": 900, "text": "hi", "words": [], "sentence_end": True}


def test_is_sentence_end_prefers_the_flag_and_falls_back_to_end_time() -> None:
    assert RecognitionResult.is_sentence_end(FINAL)
    assert not RecognitionResult.is_sentence_end({"end_time": None, "text": "h"})
    assert RecognitionResult.is_sentence_end({"end_time": 900, "text": "h"})  # SDK rule without the flag
    assert not RecognitionResult.is_sentence_end({"end_time": 900, "sentence_end": False})
    assert not RecognitionResult.is_sentence_end(None)


def test_usage_is_matched_by_end_time() -> None:
    result = RecognitionResult(request_id="t", sentence=FINAL, usages=[{"end_time": 900, "usage": {"duration": 1}}])
    assert result.get_usage(FINAL) == {"duration": 1}
    assert result.usage == {"duration": 1}
    assert result.get_usage({**FINAL, "end_time": 1}) is None
    assert result.get_usage({**FINAL, "end_time": None}) is None


def test_str_is_json_like_the_sdks() -> None:
    result = RecognitionResult(status_code=401, request_id="", code="InvalidApiKey", message="HTTP 401")
    assert json.loads(str(result)) == {
        "status_code": 401,
        "request_id": "",
        "code": "InvalidApiKey",
        "message": "HTTP 401",
        "output": None,
        "usage": None,
    }
    assert result.get_sentence() is None


def test_star_import_brings_the_sdk_names_and_settings_exist() -> None:
    namespace: dict[str, object] = {}
    exec("from funasr_realtime.compat import *", namespace)
    assert {"Recognition", "RecognitionCallback", "RecognitionResult", "InvalidParameter"} <= set(namespace)
    assert "api_key" not in namespace
    assert compat.api_key is None or isinstance(compat.api_key, str)
    assert hasattr(compat, "base_websocket_api_url")
