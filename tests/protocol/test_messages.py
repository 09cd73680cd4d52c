"""Wire messages: encodings match the SDK captures, decoding never trusts the peer.

Reference: docs/PROTOCOL.md §2 (client messages), §3 (server events), §4 (sentence).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from funasr_realtime.protocol import (
    ContinueTask,
    FinishTask,
    RecognitionParams,
    RemoteProtocolError,
    ResultGenerated,
    RunTask,
    Sentence,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    Usage,
    Word,
    decode_client_message,
    decode_server_event,
)

TASK_ID = "05862e1aa3e44ce59aeb10e4714779de"
ZH_COMMA = "\uff0c"  # the full-width comma of Chinese results


def envelope(event: str, payload: Any = None, *, task_id: str = TASK_ID, **header: Any) -> str:
    """A server frame as the service sends it (payload omitted when None)."""
    message: dict[str, Any] = {"header": {"task_id": task_id, "event": event, "attributes": {}, **header}}
    if payload is not None:
        message["payload"] = payload
    return json.dumps(message)


PARTIAL_SENTENCE = {
    "begin_time": 0,
    "end_time": None,
    "text": "hello",
    "heartbeat": False,
    "sentence_end": False,
    "sentence_id": 1,
    "words": [{"begin_time": 0, "end_time": 300, "text": "hello", "punctuation": ""}],
}

FINAL_SENTENCE = {
    "begin_time": 0,
    "end_time": 1200,
    "text": "hello world this is.",
    "heartbeat": False,
    "sentence_end": True,
    "sentence_id": 1,
    "words": [
        {"begin_time": 0, "end_time": 300, "text": "hello", "punctuation": ""},
        {"begin_time": 300, "end_time": 600, "text": "world", "punctuation": ""},
        {"begin_time": 600, "end_time": 900, "text": "this", "punctuation": ""},
        {"begin_time": 900, "end_time": 1200, "text": "is", "punctuation": "."},
    ],
}


# --------------------------------------------------------------------------- client encoding (§2)


def test_run_task_matches_sdk_capture() -> None:
    captured = {
        "header": {"streaming": "duplex", "task_id": TASK_ID, "action": "run-task"},
        "payload": {
            "model": "fun-asr-realtime",
            "parameters": {"sample_rate": 16000, "format": "pcm"},
            "input": {},
            "task": "asr",
            "task_group": "audio",
            "function": "recognition",
        },
    }
    params = RecognitionParams(model="fun-asr-realtime", format="pcm", sample_rate=16000)
    frame = RunTask(task_id=TASK_ID, model=params.model, parameters=params.to_parameters()).encode()
    assert isinstance(frame, str)
    assert json.loads(frame) == captured


def test_run_task_resources_for_phrase_id_are_in_payload_not_parameters() -> None:
    params = RecognitionParams(model="paraformer-realtime-v1", phrase_id="phrase-123")
    frame = RunTask(
        task_id=TASK_ID, model=params.model, parameters=params.to_parameters(), resources=params.to_resources()
    ).encode()
    payload = json.loads(frame)["payload"]
    assert payload["resources"] == [{"resource_id": "phrase-123", "resource_type": "asr_phrase"}]
    assert "phrase_id" not in payload["parameters"]
    assert "resources" not in payload["parameters"]


def test_run_task_without_resources_has_no_resources_key() -> None:
    payload = json.loads(RunTask(task_id=TASK_ID, model="m", parameters={}).encode())["payload"]
    assert "resources" not in payload
    assert payload["input"] == {}


def test_run_task_carries_input_context() -> None:
    context = {"context": [{"role": "user", "content": [{"type": "input_text", "text": "DashScope"}]}]}
    payload = json.loads(RunTask(task_id=TASK_ID, model="m", parameters={}, input=context).encode())["payload"]
    assert payload["input"] == context


def test_run_task_keeps_non_ascii_text_readable() -> None:
    frame = RunTask(task_id=TASK_ID, model="m", parameters={"x": "好"}).encode()
    assert "好" in frame
    assert json.loads(frame)["payload"]["parameters"]["x"] == "好"


def test_continue_task_matches_sdk_capture() -> None:
    context = {"context": [{"role": "user", "content": [{"type": "input_text", "text": "DashScope Fun-ASR"}]}]}
    captured = {
        "header": {"streaming": "duplex", "task_id": TASK_ID, "action": "continue-task"},
        "payload": {"input": context},
    }
    assert json.loads(ContinueTask(TASK_ID, context).encode()) == captured


def test_finish_task_matches_sdk_capture() -> None:
    captured = {
        "header": {"streaming": "duplex", "task_id": TASK_ID, "action": "finish-task"},
        "payload": {"input": {}},
    }
    assert json.loads(FinishTask(TASK_ID).encode()) == captured


# --------------------------------------------------------------------------- server encoding (§3, §4)


def test_task_started_encoding_matches_reference() -> None:
    expected = {"header": {"task_id": TASK_ID, "event": "task-started", "attributes": {}}, "payload": {}}
    assert json.loads(TaskStarted(TASK_ID).encode()) == expected


def test_task_finished_encoding_matches_reference() -> None:
    expected = {
        "header": {"task_id": TASK_ID, "event": "task-finished", "attributes": {}},
        "payload": {"output": {}, "usage": None},
    }
    assert json.loads(TaskFinished(TASK_ID).encode()) == expected


def test_task_failed_encoding_puts_error_in_header() -> None:
    expected = {
        "header": {
            "task_id": TASK_ID,
            "event": "task-failed",
            "attributes": {},
            "error_code": "CLIENT_ERROR",
            "error_message": "request timeout after 23 seconds.",
        },
        "payload": {},
    }
    frame = TaskFailed(TASK_ID, "CLIENT_ERROR", "request timeout after 23 seconds.").encode()
    assert json.loads(frame) == expected


def test_partial_result_encoding_matches_reference() -> None:
    sentence = Sentence(
        begin_time=0,
        end_time=None,
        text="hello",
        heartbeat=False,
        sentence_end=False,
        sentence_id=1,
        words=(Word(begin_time=0, end_time=300, text="hello"),),
    )
    wire = json.loads(ResultGenerated(TASK_ID, sentence).encode())
    assert wire == {
        "header": {"task_id": TASK_ID, "event": "result-generated", "attributes": {}},
        "payload": {"output": {"sentence": PARTIAL_SENTENCE}, "usage": None},
    }
    # The SDK decides finality on end_time: it must be present and null on a partial.
    assert "end_time" in wire["payload"]["output"]["sentence"]
    assert wire["payload"]["output"]["sentence"]["end_time"] is None


def test_final_result_encoding_matches_reference() -> None:
    sentence = Sentence.model_validate(FINAL_SENTENCE)
    wire = json.loads(ResultGenerated(TASK_ID, sentence, Usage(duration=3)).encode())
    assert wire["payload"] == {"output": {"sentence": FINAL_SENTENCE}, "usage": {"duration": 3}}


# --------------------------------------------------------------------------- server decoding (§3, §4)


def test_decode_task_started() -> None:
    assert decode_server_event(envelope("task-started", {})) == TaskStarted(TASK_ID)


def test_decode_task_started_without_payload() -> None:
    assert decode_server_event(envelope("task-started")) == TaskStarted(TASK_ID)


def test_decode_accepts_bytes() -> None:
    assert decode_server_event(envelope("task-started", {}).encode()) == TaskStarted(TASK_ID)


def test_decode_partial_result_with_null_end_time() -> None:
    event = decode_server_event(envelope("result-generated", {"output": {"sentence": PARTIAL_SENTENCE}, "usage": None}))
    assert isinstance(event, ResultGenerated)
    assert event.task_id == TASK_ID
    assert event.usage is None
    s = event.sentence
    assert (s.begin_time, s.end_time, s.text, s.sentence_id) == (0, None, "hello", 1)
    assert s.heartbeat is False
    assert s.sentence_end is False
    assert not s.is_final
    assert s.words == (Word(begin_time=0, end_time=300, text="hello", punctuation=""),)


def test_decode_final_result_with_usage() -> None:
    frame = envelope("result-generated", {"output": {"sentence": FINAL_SENTENCE}, "usage": {"duration": 3}})
    event = decode_server_event(frame)
    assert isinstance(event, ResultGenerated)
    assert event.usage == Usage(duration=3)
    assert event.sentence.is_final
    assert event.sentence.end_time == 1200
    assert [w.text for w in event.sentence.words] == ["hello", "world", "this", "is"]
    assert event.sentence.words[-1].punctuation == "."


def test_decode_result_without_usage_key() -> None:
    event = decode_server_event(envelope("result-generated", {"output": {"sentence": {"text": "x"}}}))
    assert isinstance(event, ResultGenerated)
    assert event.usage is None
    assert event.sentence == Sentence(text="x")


def test_decode_chinese_result() -> None:
    sentence = {
        "begin_time": 170,
        "end_time": 920,
        "text": f"好{ZH_COMMA}我知道了",
        "sentence_end": True,
        "words": [
            {"begin_time": 170, "end_time": 295, "text": "好", "punctuation": ZH_COMMA},
            {"begin_time": 295, "end_time": 503, "text": "我", "punctuation": ""},
        ],
    }
    event = decode_server_event(envelope("result-generated", {"output": {"sentence": sentence}, "usage": None}))
    assert isinstance(event, ResultGenerated)
    assert event.sentence.text == f"好{ZH_COMMA}我知道了"
    assert event.sentence.words[0].punctuation == ZH_COMMA


def test_decode_task_finished_with_usage() -> None:
    event = decode_server_event(envelope("task-finished", {"output": {}, "usage": {"duration": 4}}))
    assert event == TaskFinished(TASK_ID, Usage(duration=4))


def test_decode_task_finished_with_null_usage() -> None:
    assert decode_server_event(envelope("task-finished", {"output": {}, "usage": None})) == TaskFinished(TASK_ID)


@pytest.mark.parametrize("payload", [{"output": {}}, {}, None], ids=["output-only", "empty", "absent"])
def test_decode_task_finished_payload_forms(payload: Any) -> None:
    event = decode_server_event(envelope("task-finished", payload))
    assert event == TaskFinished(TASK_ID, None)


def test_decode_task_failed_reads_header_error() -> None:
    frame = envelope(
        "task-failed",
        {},
        error_code="CLIENT_ERROR",
        error_message="request timeout after 23 seconds.",
    )
    assert decode_server_event(frame) == TaskFailed(TASK_ID, "CLIENT_ERROR", "request timeout after 23 seconds.")


def test_decode_task_failed_without_error_fields() -> None:
    event = decode_server_event(envelope("task-failed", {}))
    assert isinstance(event, TaskFailed)
    assert event.error_code == "Unknown"
    assert event.error_message == ""


def test_decode_task_failed_with_empty_task_id() -> None:
    frame = envelope(
        "task-failed", {}, task_id="", error_code="InvalidApiKey", error_message="Invalid API-key provided."
    )
    assert decode_server_event(frame) == TaskFailed("", "InvalidApiKey", "Invalid API-key provided.")


def test_decode_ignores_unknown_header_and_payload_fields() -> None:
    frame = json.dumps(
        {
            "header": {"task_id": TASK_ID, "event": "task-started", "attributes": {"a": 1}, "request_id": "r-1"},
            "payload": {"something_new": [1, 2]},
            "trailer": True,
        }
    )
    assert decode_server_event(frame) == TaskStarted(TASK_ID)


def test_heartbeat_result_decodes_with_flag() -> None:
    sentence = {"begin_time": 0, "end_time": None, "text": "", "heartbeat": True, "sentence_end": False}
    event = decode_server_event(envelope("result-generated", {"output": {"sentence": sentence}, "usage": None}))
    assert isinstance(event, ResultGenerated)
    assert event.sentence.heartbeat is True


# --------------------------------------------------------------------------- unknown fields are kept


def test_unknown_sentence_and_word_fields_are_preserved() -> None:
    sentence = {
        **FINAL_SENTENCE,
        "emo_tag": "positive",
        "emo_confidence": 0.87,
        "stash": {"text": "rest"},
        "words": [{"begin_time": 0, "end_time": 300, "text": "hi", "punctuation": "", "fixed": True, "speaker_id": 2}],
    }
    event = decode_server_event(envelope("result-generated", {"output": {"sentence": sentence}, "usage": None}))
    assert isinstance(event, ResultGenerated)
    s = event.sentence
    assert s.model_extra == {"emo_tag": "positive", "emo_confidence": 0.87, "stash": {"text": "rest"}}
    assert s.words[0].model_extra == {"fixed": True, "speaker_id": 2}
    # And they survive re-encoding (the local server relays them, shifted() keeps them).
    assert s.to_wire()["emo_tag"] == "positive"
    assert s.to_wire()["words"][0]["speaker_id"] == 2
    moved = s.shifted(1000)
    assert moved.model_extra == s.model_extra
    assert moved.words[0].model_extra == {"fixed": True, "speaker_id": 2}


def test_unknown_usage_fields_are_preserved() -> None:
    event = decode_server_event(envelope("task-finished", {"output": {}, "usage": {"duration": 2, "tokens": 9}}))
    assert isinstance(event, TaskFinished)
    assert event.usage is not None
    assert event.usage.duration == 2
    assert event.usage.model_extra == {"tokens": 9}


# --------------------------------------------------------------------------- Sentence semantics


@pytest.mark.parametrize(
    ("fields", "final"),
    [
        ({"sentence_end": True, "end_time": 1200}, True),
        ({"sentence_end": True, "end_time": None}, True),  # the zh Paraformer doc example
        ({"sentence_end": False, "end_time": 1200}, False),
        ({"sentence_end": False, "end_time": None}, False),
        ({"end_time": 1200}, True),
        ({"end_time": None}, False),
        ({}, False),
    ],
)
def test_is_final(fields: dict[str, Any], final: bool) -> None:
    assert Sentence(**fields).is_final is final


def test_shifted_moves_sentence_and_word_times() -> None:
    s = Sentence.model_validate(FINAL_SENTENCE)
    moved = s.shifted(5000)
    assert (moved.begin_time, moved.end_time) == (5000, 6200)
    assert [(w.begin_time, w.end_time) for w in moved.words] == [
        (5000, 5300),
        (5300, 5600),
        (5600, 5900),
        (5900, 6200),
    ]
    assert moved.text == s.text
    assert [w.text for w in moved.words] == [w.text for w in s.words]
    assert moved.sentence_end is True
    assert moved.sentence_id == 1
    # The original is untouched (immutable).
    assert (s.begin_time, s.end_time, s.words[0].begin_time) == (0, 1200, 0)


def test_shifted_keeps_null_end_time() -> None:
    s = Sentence.model_validate(PARTIAL_SENTENCE)
    moved = s.shifted(250)
    assert moved.begin_time == 250
    assert moved.end_time is None
    assert not moved.is_final
    assert moved.words[0].begin_time == 250
    assert moved.words[0].end_time == 550


def test_shifted_by_zero_is_equal() -> None:
    s = Sentence.model_validate(FINAL_SENTENCE)
    assert s.shifted(0) == s


def test_shifted_round_trip() -> None:
    s = Sentence.model_validate(FINAL_SENTENCE)
    assert s.shifted(700).shifted(-700) == s


def test_sentence_is_immutable() -> None:
    s = Sentence(text="a")
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        s.text = "b"


# --------------------------------------------------------------------------- server decoding: violations


def _final_with(fields: str) -> str:
    """A final result frame whose sentence has ``fields`` (raw JSON, to send what json.dumps cannot)."""
    return (
        '{"header": {"task_id": "t", "event": "result-generated"}, '
        '"payload": {"output": {"sentence": {"text": "x", "sentence_end": true, ' + fields + "}}}}"
    )


MALFORMED_SERVER_FRAMES = {
    "empty": "",
    "not-json": "hello",
    "truncated": '{"header": {"task_id": "t", "event": "task-started"}',
    "trailing-garbage": '{"header": {"task_id": "t", "event": "task-started"}} x',
    "nan-literal": '{"header": {"task_id": "t", "event": "result-generated"}, "payload": '
    '{"output": {"sentence": {"begin_time": NaN}}}}',
    "invalid-utf8": b'{"header": {"task_id": "\xff", "event": "task-started"}}',
    "deeply-nested": "[" * 5000 + "]" * 5000,
    # non-object JSON
    "array": "[]",
    "number": "1",
    "null": "null",
    "string": '"task-started"',
    "true": "true",
    # missing header or header fields
    "no-header": '{"payload": {}}',
    "empty-object": "{}",
    "header-without-event": '{"header": {"task_id": "t"}}',
    "header-without-task-id": '{"header": {"event": "task-started"}}',
    # unknown events
    "unknown-event": '{"header": {"task_id": "t", "event": "task-paused"}}',
    "event-case": '{"header": {"task_id": "t", "event": "Task-Started"}}',
    "event-empty": '{"header": {"task_id": "t", "event": ""}}',
    # result-generated without a sentence
    "result-no-payload": '{"header": {"task_id": "t", "event": "result-generated"}}',
    "result-empty-payload": '{"header": {"task_id": "t", "event": "result-generated"}, "payload": {}}',
    "result-empty-output": '{"header": {"task_id": "t", "event": "result-generated"}, "payload": {"output": {}}}',
    "result-null-output": '{"header": {"task_id": "t", "event": "result-generated"}, "payload": {"output": null}}',
    "result-null-sentence": '{"header": {"task_id": "t", "event": "result-generated"}, '
    '"payload": {"output": {"sentence": null}}}',
    # wrong types
    "header-list": '{"header": []}',
    "header-string": '{"header": "task-started"}',
    "task-id-int": '{"header": {"task_id": 5, "event": "task-started"}}',
    "task-id-null": '{"header": {"task_id": null, "event": "task-started"}}',
    "event-int": '{"header": {"task_id": "t", "event": 1}}',
    "payload-list": '{"header": {"task_id": "t", "event": "task-started"}, "payload": []}',
    "output-list": '{"header": {"task_id": "t", "event": "task-finished"}, "payload": {"output": []}}',
    "sentence-string": '{"header": {"task_id": "t", "event": "result-generated"}, '
    '"payload": {"output": {"sentence": "hello"}}}',
    "sentence-text-int": '{"header": {"task_id": "t", "event": "result-generated"}, '
    '"payload": {"output": {"sentence": {"text": 5}}}}',
    "sentence-end-time-fraction": '{"header": {"task_id": "t", "event": "result-generated"}, '
    '"payload": {"output": {"sentence": {"end_time": 1.5}}}}',
    "words-object": '{"header": {"task_id": "t", "event": "result-generated"}, '
    '"payload": {"output": {"sentence": {"words": {"text": "a"}}}}}',
    "word-missing-end": '{"header": {"task_id": "t", "event": "result-generated"}, '
    '"payload": {"output": {"sentence": {"words": [{"begin_time": 0, "text": "a"}]}}}}',
    "word-time-string": '{"header": {"task_id": "t", "event": "result-generated"}, '
    '"payload": {"output": {"sentence": {"words": [{"begin_time": "abc", "end_time": 1, "text": "a"}]}}}}',
    "usage-string": '{"header": {"task_id": "t", "event": "task-finished"}, "payload": {"usage": "x"}}',
    "duration-string": '{"header": {"task_id": "t", "event": "task-finished"}, '
    '"payload": {"usage": {"duration": "x"}}}',
    "error-code-int": '{"header": {"task_id": "t", "event": "task-failed", "error_code": 401}}',
    # absurd numbers and ids (issue 11): bounded at decode time, see the messages docstring
    "end-time-401-digits": _final_with('"end_time": ' + "9" * 401),
    "end-time-huge": _final_with('"end_time": ' + "9" * 100_000),
    "end-time-1e300": _final_with('"end_time": 1e300'),
    "end-time-float": _final_with('"end_time": 500.0'),
    "end-time-bool": _final_with('"end_time": true'),
    "end-time-string": _final_with('"end_time": "500"'),
    "begin-time-negative": _final_with('"begin_time": -1'),
    "end-time-above-limit": _final_with('"end_time": 2147483648'),
    "end-before-begin": _final_with('"begin_time": 900, "end_time": 100'),
    "word-end-before-begin": _final_with('"words": [{"begin_time": 9, "end_time": 1, "text": "a"}]'),
    "word-time-bool": _final_with('"words": [{"begin_time": false, "end_time": 1, "text": "a"}]'),
    "sentence-id-negative": _final_with('"sentence_id": -1'),
    "sentence-id-huge": _final_with('"sentence_id": ' + "1" * 50),
    "duration-negative": '{"header": {"task_id": "t", "event": "task-finished"}, '
    '"payload": {"usage": {"duration": -1}}}',
    "duration-huge": '{"header": {"task_id": "t", "event": "task-finished"}, '
    '"payload": {"usage": {"duration": 1e300}}}',
    "task-id-too-long": '{"header": {"task_id": "' + "a" * 129 + '", "event": "task-started"}}',
    "task-id-space": '{"header": {"task_id": "a b", "event": "task-started"}}',
    "task-id-control": '{"header": {"task_id": "a\\u0000", "event": "task-started"}}',
    "event-too-long": '{"header": {"task_id": "t", "event": "' + "x" * 65 + '"}}',
}


@pytest.mark.parametrize("frame", list(MALFORMED_SERVER_FRAMES.values()), ids=list(MALFORMED_SERVER_FRAMES))
def test_malformed_server_frames_raise_remote_protocol_error(frame: str | bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_server_event(frame)


def test_unknown_event_error_names_the_event() -> None:
    with pytest.raises(RemoteProtocolError, match="task-paused"):
        decode_server_event(envelope("task-paused", {}))


def test_unknown_event_name_is_truncated_in_the_message() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_event(envelope("x" * 10_000, {}))
    assert len(str(info.value)) < 200


def test_absurd_number_error_says_where_without_echoing_the_number() -> None:
    with pytest.raises(RemoteProtocolError, match=r"sentence\b.*end_time: .*out of range") as caught:
        decode_server_event(MALFORMED_SERVER_FRAMES["end-time-401-digits"])
    assert "999" not in str(caught.value)


def test_limits_themselves_are_accepted() -> None:
    limit = 2**31 - 1
    event = decode_server_event(
        _final_with(f'"begin_time": {limit}, "end_time": {limit}, "sentence_id": {limit}, "text": "{"a" * 65_536}"')
    )
    assert isinstance(event, ResultGenerated)
    assert (event.sentence.begin_time, event.sentence.end_time, event.sentence.sentence_id) == (limit, limit, limit)
    started = decode_server_event('{"header": {"task_id": "' + "a" * 128 + '", "event": "task-started"}}')
    assert started == TaskStarted("a" * 128)


def test_uuid_and_hex_task_ids_are_accepted() -> None:
    for task_id in (TASK_ID, "8e2f1c3a-4b5d-4e6f-9a0b-1c2d3e4f5a6b", "t-9", "x_1.2:3"):
        assert decode_server_event(TaskStarted(task_id).encode()) == TaskStarted(task_id)
        assert decode_client_message(FinishTask(task_id).encode()) == FinishTask(task_id)


def test_unknown_action_with_hostile_text_is_not_echoed() -> None:
    token = "sk-" + "0123456789abcdef"  # built at run time: no key-shaped literal in a commit
    frame = '{"header": {"action": "Bearer ' + token + '", "task_id": "t"}, "payload": {}}'
    with pytest.raises(RemoteProtocolError, match="not shown") as caught:
        decode_client_message(frame)
    assert "sk-0123" not in str(caught.value)


def test_malformed_error_says_where() -> None:
    with pytest.raises(RemoteProtocolError, match="header"):
        decode_server_event('{"payload": {}}')


# --------------------------------------------------------------------------- client decoding (the server side)


def test_decode_run_task_from_sdk_capture() -> None:
    frame = json.dumps(
        {
            "header": {"streaming": "duplex", "task_id": TASK_ID, "action": "run-task"},
            "payload": {
                "model": "fun-asr-realtime",
                "parameters": {"sample_rate": 16000, "format": "pcm"},
                "input": {},
                "task": "asr",
                "task_group": "audio",
                "function": "recognition",
            },
        }
    )
    assert decode_client_message(frame) == RunTask(
        task_id=TASK_ID, model="fun-asr-realtime", parameters={"sample_rate": 16000, "format": "pcm"}, input={}
    )


def test_decode_run_task_with_resources() -> None:
    frame = json.dumps(
        {
            "header": {"task_id": TASK_ID, "action": "run-task", "streaming": "duplex"},
            "payload": {
                "model": "paraformer-realtime-v1",
                "parameters": {},
                "input": {},
                "resources": [{"resource_id": "p1", "resource_type": "asr_phrase"}],
            },
        }
    )
    message = decode_client_message(frame)
    assert isinstance(message, RunTask)
    assert message.resources == ({"resource_id": "p1", "resource_type": "asr_phrase"},)


def test_decode_continue_and_finish() -> None:
    context = {"context": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]}
    assert decode_client_message(ContinueTask(TASK_ID, context).encode()) == ContinueTask(TASK_ID, context)
    assert decode_client_message(FinishTask(TASK_ID).encode()) == FinishTask(TASK_ID)


MALFORMED_CLIENT_FRAMES = {
    "not-json": "run-task",
    "empty": "",
    "array": "[]",
    "null": "null",
    "no-payload": '{"header": {"action": "finish-task", "task_id": "t"}}',
    "no-header": '{"payload": {"input": {}}}',
    "no-action": '{"header": {"task_id": "t"}, "payload": {"input": {}}}',
    "no-task-id": '{"header": {"action": "finish-task"}, "payload": {"input": {}}}',
    "action-int": '{"header": {"action": 1, "task_id": "t"}, "payload": {}}',
    "unknown-action": '{"header": {"action": "pause-task", "task_id": "t"}, "payload": {}}',
    "run-task-without-input": '{"header": {"action": "run-task", "task_id": "t"}, '
    '"payload": {"model": "fun-asr-realtime", "parameters": {}}}',
    "run-task-without-model": '{"header": {"action": "run-task", "task_id": "t"}, '
    '"payload": {"parameters": {}, "input": {}}}',
    "parameters-list": '{"header": {"action": "run-task", "task_id": "t"}, '
    '"payload": {"model": "m", "parameters": [], "input": {}}}',
    "resources-object": '{"header": {"action": "run-task", "task_id": "t"}, '
    '"payload": {"model": "m", "input": {}, "resources": {"resource_id": "p"}}}',
    "input-string": '{"header": {"action": "continue-task", "task_id": "t"}, "payload": {"input": "x"}}',
}


@pytest.mark.parametrize("frame", list(MALFORMED_CLIENT_FRAMES.values()), ids=list(MALFORMED_CLIENT_FRAMES))
def test_malformed_client_frames_raise_invalid_payload_data(frame: str) -> None:
    with pytest.raises(RemoteProtocolError, match=r"^Invalid payload data"):
        decode_client_message(frame)


# --------------------------------------------------------------------------- round trips

SERVER_EVENTS = [
    TaskStarted(TASK_ID),
    TaskStarted(""),
    ResultGenerated(TASK_ID, Sentence.model_validate(PARTIAL_SENTENCE)),
    ResultGenerated(TASK_ID, Sentence.model_validate(FINAL_SENTENCE), Usage(duration=3)),
    ResultGenerated(
        TASK_ID,
        Sentence.model_validate(
            {"text": f"好{ZH_COMMA}我知道了", "begin_time": 10, "end_time": 900, "emo_tag": "neutral"}
        ),
    ),
    ResultGenerated(TASK_ID, Sentence(heartbeat=True)),
    TaskFinished(TASK_ID),
    TaskFinished(TASK_ID, Usage(duration=12)),
    TaskFailed(TASK_ID, "CLIENT_ERROR", "request timeout after 23 seconds."),
    TaskFailed("", "InvalidApiKey", "Invalid API-key provided."),
]


@pytest.mark.parametrize("event", SERVER_EVENTS, ids=lambda e: type(e).__name__)
def test_server_event_round_trip(event: Any) -> None:
    assert decode_server_event(event.encode()) == event


CLIENT_MESSAGES = [
    RunTask(task_id=TASK_ID, model="fun-asr-realtime", parameters={"format": "pcm", "sample_rate": 16000}),
    RunTask(
        task_id=TASK_ID,
        model="paraformer-realtime-v1",
        parameters={"language_hints": ["zh"], "speech_noise_threshold": 0.3, "extra": {"nested": [1, None]}},
        resources=({"resource_id": "p1", "resource_type": "asr_phrase"},),
        input={"context": [{"role": "user", "content": [{"type": "input_text", "text": "词"}]}]},
    ),
    ContinueTask(TASK_ID, {"context": []}),
    ContinueTask(TASK_ID, {}),
    FinishTask(TASK_ID),
]


@pytest.mark.parametrize("message", CLIENT_MESSAGES, ids=lambda m: type(m).__name__)
def test_client_message_round_trip(message: Any) -> None:
    assert decode_client_message(message.encode()) == message
