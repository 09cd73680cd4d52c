"""ClientProtocol: the sans-I/O client side of one connection."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from funasr_realtime.protocol import (
    MAX_AUDIO_FRAME_BYTES,
    ClientProtocol,
    ClientState,
    LocalProtocolError,
    RecognitionParams,
    RemoteProtocolError,
    ResultGenerated,
    Sentence,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    Usage,
    Word,
)

PARAMS = RecognitionParams(model="fun-asr-realtime", sample_rate=16000)


def ids(*values: str) -> Callable[[], str]:
    it = iter(values)
    return lambda: next(it)


def frame(event: str, task_id: str, payload: dict[str, Any] | None = None, **header: Any) -> str:
    return json.dumps(
        {"header": {"task_id": task_id, "event": event, "attributes": {}, **header}, "payload": payload or {}}
    )


def result(task_id: str, **sentence: Any) -> str:
    return frame("result-generated", task_id, {"output": {"sentence": sentence}, "usage": None})


def streaming(task_id: str = "task-1") -> ClientProtocol:
    client = ClientProtocol(task_ids=ids(task_id))
    client.run_task(PARAMS)
    client.receive_text(frame("task-started", task_id))
    assert client.state is ClientState.STREAMING
    return client


def finishing(task_id: str = "task-1") -> ClientProtocol:
    client = streaming(task_id)
    client.finish_task()
    assert client.state is ClientState.FINISHING
    return client


# --------------------------------------------------------------------------- run-task


def test_initial_state() -> None:
    client = ClientProtocol()
    assert client.state is ClientState.IDLE
    assert client.task_id is None


def test_run_task_returns_run_task_frame() -> None:
    client = ClientProtocol(task_ids=ids("abc"))
    text = client.run_task(PARAMS)
    assert isinstance(text, str)
    message = json.loads(text)
    assert message["header"] == {"action": "run-task", "task_id": "abc", "streaming": "duplex"}
    assert message["payload"]["model"] == "fun-asr-realtime"
    assert message["payload"]["parameters"] == {"format": "pcm", "sample_rate": 16000}
    assert message["payload"]["input"] == {}
    assert (message["payload"]["task_group"], message["payload"]["task"], message["payload"]["function"]) == (
        "audio",
        "asr",
        "recognition",
    )
    assert client.state is ClientState.STARTING
    assert client.task_id == "abc"


def test_run_task_default_ids_are_fresh_32_hex() -> None:
    client = ClientProtocol()
    seen = []
    for _ in range(3):
        message = json.loads(client.run_task(PARAMS))
        task_id = message["header"]["task_id"]
        assert re.fullmatch(r"[0-9a-f]{32}", task_id)
        assert task_id == client.task_id
        seen.append(task_id)
        client.receive_text(frame("task-started", task_id))
        client.finish_task()
        client.receive_text(frame("task-finished", task_id, {"output": {}}))
    assert len(set(seen)) == 3


def test_two_clients_get_different_ids() -> None:
    a, b = ClientProtocol(), ClientProtocol()
    a.run_task(PARAMS)
    b.run_task(PARAMS)
    assert a.task_id != b.task_id


def test_run_task_carries_input_resources_and_extra() -> None:
    params = RecognitionParams(model="paraformer-realtime-v1", phrase_id="p-1", extra={"new": 1})
    context = {"context": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
    payload = json.loads(ClientProtocol(task_ids=ids("t")).run_task(params, input=context))["payload"]
    assert payload["input"] == context
    assert payload["resources"] == [{"resource_id": "p-1", "resource_type": "asr_phrase"}]
    assert payload["parameters"]["new"] == 1


def test_run_task_twice_is_local_error() -> None:
    client = ClientProtocol(task_ids=ids("a", "b"))
    client.run_task(PARAMS)
    with pytest.raises(LocalProtocolError, match="task is starting"):
        client.run_task(PARAMS)
    assert client.state is ClientState.STARTING
    assert client.task_id == "a"


def test_run_task_while_streaming_is_local_error() -> None:
    client = streaming()
    with pytest.raises(LocalProtocolError, match="task is streaming"):
        client.run_task(PARAMS)
    assert client.task_id == "task-1"


# --------------------------------------------------------------------------- audio


def test_send_audio_before_run_task() -> None:
    with pytest.raises(LocalProtocolError, match="cannot send audio: task is idle"):
        ClientProtocol().send_audio(b"\x00\x00")


def test_send_audio_before_task_started_names_the_state() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    with pytest.raises(LocalProtocolError, match="cannot send audio: task is starting"):
        client.send_audio(b"\x00" * 3200)
    assert client.state is ClientState.STARTING


def test_send_audio_after_finish_task_names_the_state() -> None:
    client = finishing()
    with pytest.raises(LocalProtocolError, match="task is finishing"):
        client.send_audio(b"\x00\x00")


def test_send_audio_small_chunk_is_one_frame() -> None:
    client = streaming()
    data = bytes(range(256)) * 12 + b"\x01\x02"
    assert client.send_audio(data) == [data]


def test_send_audio_splits_large_chunks() -> None:
    client = streaming()
    data = bytes(i % 251 for i in range(40000))
    frames = client.send_audio(data)
    assert [len(f) for f in frames] == [16000, 16000, 8000]
    assert all(isinstance(f, bytes) for f in frames)
    assert b"".join(frames) == data
    assert client.state is ClientState.STREAMING


def test_send_audio_exact_limit_is_not_split() -> None:
    client = streaming()
    data = b"\x07" * MAX_AUDIO_FRAME_BYTES
    assert client.send_audio(data) == [data]


def test_max_frame_is_configurable_and_even() -> None:
    client = ClientProtocol(max_frame_bytes=4, task_ids=ids("t"))
    client.run_task(PARAMS)
    client.receive_text(frame("task-started", "t"))
    assert client.send_audio(b"abcdefghij") == [b"abcd", b"efgh", b"ij"]


@pytest.mark.parametrize("size", [0, 1, 3, 3201])
def test_max_frame_must_be_even_and_at_least_two(size: int) -> None:
    with pytest.raises(ValueError, match="max_frame_bytes"):
        ClientProtocol(max_frame_bytes=size)


def test_max_audio_frame_is_within_the_recommended_range() -> None:
    assert 1024 <= MAX_AUDIO_FRAME_BYTES <= 16 * 1024
    assert MAX_AUDIO_FRAME_BYTES % 2 == 0


# --------------------------------------------------------------------------- continue / finish


def test_continue_task_frame() -> None:
    client = streaming("t-9")
    context = {"context": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]}
    message = json.loads(client.continue_task(context))
    assert message == {
        "header": {"action": "continue-task", "task_id": "t-9", "streaming": "duplex"},
        "payload": {"input": context},
    }
    assert client.state is ClientState.STREAMING


def test_continue_task_before_start_is_local_error() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    with pytest.raises(LocalProtocolError, match="continue-task: task is starting"):
        client.continue_task({})


def test_finish_task_frame() -> None:
    client = streaming("t-9")
    message = json.loads(client.finish_task())
    assert message == {
        "header": {"action": "finish-task", "task_id": "t-9", "streaming": "duplex"},
        "payload": {"input": {}},
    }
    assert client.state is ClientState.FINISHING


def test_finish_task_twice_is_local_error() -> None:
    client = finishing()
    with pytest.raises(LocalProtocolError, match="finish-task: task is finishing"):
        client.finish_task()


def test_finish_task_when_idle_is_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="task is idle"):
        ClientProtocol().finish_task()


# --------------------------------------------------------------------------- receiving


def test_task_started() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    assert client.receive_text(frame("task-started", "t")) == TaskStarted("t")
    assert client.state is ClientState.STREAMING


def test_receive_accepts_bytes_text() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    assert client.receive_text(frame("task-started", "t").encode()) == TaskStarted("t")


def test_results_while_streaming_and_finishing() -> None:
    client = streaming("t")
    partial = client.receive_text(result("t", begin_time=0, end_time=None, text="hel", sentence_end=False))
    assert isinstance(partial, ResultGenerated)
    assert partial.sentence.text == "hel"
    assert not partial.sentence.is_final
    client.finish_task()
    final_frame = frame(
        "result-generated",
        "t",
        {
            "output": {
                "sentence": {
                    "begin_time": 0,
                    "end_time": 500,
                    "text": "hello",
                    "sentence_end": True,
                    "words": [{"begin_time": 0, "end_time": 500, "text": "hello", "punctuation": ""}],
                }
            },
            "usage": {"duration": 1},
        },
    )
    final = client.receive_text(final_frame)
    assert isinstance(final, ResultGenerated)
    assert final.sentence.is_final
    assert final.sentence.words == (Word(begin_time=0, end_time=500, text="hello"),)
    assert final.usage == Usage(duration=1)
    assert client.state is ClientState.FINISHING
    finished = client.receive_text(frame("task-finished", "t", {"output": {}, "usage": {"duration": 1}}))
    assert finished == TaskFinished("t", Usage(duration=1))
    assert client.state is ClientState.IDLE


def test_heartbeat_result_returns_none_and_keeps_streaming() -> None:
    client = streaming("t")
    assert client.receive_text(result("t", text="", heartbeat=True, sentence_end=False)) is None
    assert client.state is ClientState.STREAMING
    # a normal result afterwards is still delivered
    event = client.receive_text(result("t", text="a", heartbeat=False))
    assert isinstance(event, ResultGenerated)


def test_heartbeat_result_while_finishing_returns_none() -> None:
    client = finishing("t")
    assert client.receive_text(result("t", heartbeat=True)) is None
    assert client.state is ClientState.FINISHING


def test_heartbeat_before_task_started_is_still_a_violation() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    with pytest.raises(RemoteProtocolError):
        client.receive_text(result("t", heartbeat=True))
    assert client.state is ClientState.FAILED


def test_server_may_finish_the_task_while_streaming() -> None:
    client = streaming("t")
    assert client.receive_text(frame("task-finished", "t", {"output": {}})) == TaskFinished("t")
    assert client.state is ClientState.IDLE


@pytest.mark.parametrize("make", [streaming, finishing], ids=["streaming", "finishing"])
def test_task_failed(make: Callable[[str], ClientProtocol]) -> None:
    client = make("t")
    event = client.receive_text(frame("task-failed", "t", error_code="InternalError", error_message="boom"))
    assert event == TaskFailed("t", "InternalError", "boom")
    assert client.state is ClientState.FAILED
    with pytest.raises(LocalProtocolError, match="task is failed"):
        client.run_task(PARAMS)


def test_task_failed_before_task_started() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    event = client.receive_text(frame("task-failed", "t", error_code="ModelNotFound", error_message="Not found!"))
    assert event == TaskFailed("t", "ModelNotFound", "Not found!")
    assert client.state is ClientState.FAILED


def test_task_failed_with_empty_task_id_is_accepted() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    frame_text = frame("task-failed", "", error_code="InvalidApiKey", error_message="Invalid API-key provided.")
    event = client.receive_text(frame_text)
    assert event == TaskFailed("", "InvalidApiKey", "Invalid API-key provided.")
    assert client.state is ClientState.FAILED


def test_task_failed_with_empty_task_id_while_streaming_is_accepted() -> None:
    client = streaming("t")
    event = client.receive_text(frame("task-failed", "", error_code="InternalError", error_message="x"))
    assert isinstance(event, TaskFailed)
    assert client.state is ClientState.FAILED


@pytest.mark.parametrize("event", ["task-started", "task-finished"])
def test_only_task_failed_may_have_an_empty_task_id(event: str) -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    with pytest.raises(RemoteProtocolError):
        client.receive_text(frame(event, ""))
    assert client.state is ClientState.FAILED


def test_empty_result_task_id_is_rejected() -> None:
    client = streaming("t")
    with pytest.raises(RemoteProtocolError):
        client.receive_text(result("", text="x"))
    assert client.state is ClientState.FAILED


@pytest.mark.parametrize(
    "text",
    [
        frame("task-started", "other"),
        result("other", text="x"),
        frame("task-finished", "other", {"output": {}}),
        frame("task-failed", "other", error_code="InternalError", error_message="x"),
    ],
    ids=["started", "result", "finished", "failed"],
)
def test_event_for_another_task_fails_the_connection(text: str) -> None:
    client = ClientProtocol(task_ids=ids("mine"))
    client.run_task(PARAMS)
    if '"task-started"' not in text:
        client.receive_text(frame("task-started", "mine"))
    with pytest.raises(RemoteProtocolError, match="other") as info:
        client.receive_text(text)
    assert "mine" in str(info.value)
    assert client.state is ClientState.FAILED
    with pytest.raises(LocalProtocolError):
        client.send_audio(b"\x00\x00")


def test_events_for_the_previous_task_are_rejected_after_reuse() -> None:
    client = ClientProtocol(task_ids=ids("first", "second"))
    client.run_task(PARAMS)
    client.receive_text(frame("task-started", "first"))
    client.finish_task()
    client.receive_text(frame("task-finished", "first"))
    client.run_task(PARAMS)
    client.receive_text(frame("task-started", "second"))
    with pytest.raises(RemoteProtocolError, match="first"):
        client.receive_text(result("first", text="late"))
    assert client.state is ClientState.FAILED


def test_event_before_run_task_is_a_violation() -> None:
    client = ClientProtocol()
    with pytest.raises(RemoteProtocolError):
        client.receive_text(frame("task-started", "t"))
    assert client.state is ClientState.FAILED


def test_task_started_twice_is_a_violation() -> None:
    client = streaming("t")
    with pytest.raises(RemoteProtocolError, match="task-started: task is streaming"):
        client.receive_text(frame("task-started", "t"))
    assert client.state is ClientState.FAILED


def test_result_before_task_started_is_a_violation() -> None:
    client = ClientProtocol(task_ids=ids("t"))
    client.run_task(PARAMS)
    with pytest.raises(RemoteProtocolError, match="task is starting"):
        client.receive_text(result("t", text="x"))
    assert client.state is ClientState.FAILED


def test_result_after_task_finished_is_a_violation() -> None:
    client = finishing("t")
    client.receive_text(frame("task-finished", "t"))
    assert client.state is ClientState.IDLE
    with pytest.raises(RemoteProtocolError, match="task is idle"):
        client.receive_text(result("t", text="late"))
    assert client.state is ClientState.FAILED


def test_task_finished_twice_is_a_violation() -> None:
    client = finishing("t")
    client.receive_text(frame("task-finished", "t"))
    with pytest.raises(RemoteProtocolError):
        client.receive_text(frame("task-finished", "t"))
    assert client.state is ClientState.FAILED


@pytest.mark.parametrize("text", ["not json", "{}", '{"header": {"task_id": "t", "event": "task-paused"}}', "[1]"])
def test_malformed_frame_fails_the_connection(text: str) -> None:
    client = streaming("t")
    with pytest.raises(RemoteProtocolError):
        client.receive_text(text)
    assert client.state is ClientState.FAILED


@pytest.mark.parametrize("make", [ClientProtocol, streaming, finishing], ids=["idle", "streaming", "finishing"])
def test_binary_frame_from_server_is_a_violation(make: Callable[[], ClientProtocol]) -> None:
    client = make()
    with pytest.raises(RemoteProtocolError, match="binary frame of 3 bytes"):
        client.receive_bytes(b"abc")
    assert client.state is ClientState.FAILED


# --------------------------------------------------------------------------- connection loss and reuse


@pytest.mark.parametrize("make", [ClientProtocol, streaming, finishing], ids=["idle", "streaming", "finishing"])
def test_connection_lost(make: Callable[[], ClientProtocol]) -> None:
    client = make()
    client.connection_lost()
    assert client.state is ClientState.CLOSED
    with pytest.raises(LocalProtocolError, match="task is closed"):
        client.run_task(PARAMS)
    with pytest.raises(LocalProtocolError, match="task is closed"):
        client.send_audio(b"\x00\x00")


def test_connection_lost_after_failure() -> None:
    client = streaming("t")
    client.receive_text(frame("task-failed", "t", error_code="X", error_message="y"))
    client.connection_lost()
    assert client.state is ClientState.CLOSED


def test_reuse_for_a_second_task_gets_a_new_id() -> None:
    counter = itertools.count(1)
    client = ClientProtocol(task_ids=lambda: f"task-{next(counter)}")
    ids_seen = []
    for _ in range(2):
        message = json.loads(client.run_task(PARAMS))
        ids_seen.append(message["header"]["task_id"])
        assert client.receive_text(frame("task-started", client.task_id or "")) == TaskStarted(ids_seen[-1])
        assert client.send_audio(b"\x00" * 3200) == [b"\x00" * 3200]
        assert json.loads(client.finish_task())["header"]["task_id"] == ids_seen[-1]
        client.receive_text(frame("task-finished", ids_seen[-1]))
        assert client.state is ClientState.IDLE
    assert ids_seen == ["task-1", "task-2"]


def test_sentence_from_result_is_typed() -> None:
    client = streaming("t")
    event = client.receive_text(result("t", begin_time=10, end_time=20, text="x", sentence_id=3, emo_tag="happy"))
    assert isinstance(event, ResultGenerated)
    assert isinstance(event.sentence, Sentence)
    assert event.sentence.sentence_id == 3
    assert event.sentence.model_extra == {"emo_tag": "happy"}


# --------------------------------------------------------------------------- every illegal call, through the public API


def client_in(state: ClientState) -> ClientProtocol:
    if state is ClientState.IDLE:
        return ClientProtocol(task_ids=ids("t"))
    if state is ClientState.STARTING:
        client = ClientProtocol(task_ids=ids("t"))
        client.run_task(PARAMS)
        return client
    if state is ClientState.FINISHING:
        return finishing("t")
    client = streaming("t")
    if state is ClientState.FAILED:
        client.receive_text(frame("task-failed", "t", error_code="X", error_message="y"))
    elif state is ClientState.CLOSED:
        client.connection_lost()
    return client


CALLS: dict[str, Callable[[ClientProtocol], object]] = {
    "run_task": lambda c: c.run_task(PARAMS),
    "send_audio": lambda c: c.send_audio(b"\x00\x00"),
    "continue_task": lambda c: c.continue_task({}),
    "finish_task": lambda c: c.finish_task(),
}
LEGAL_CALLS = {ClientState.IDLE: {"run_task"}, ClientState.STREAMING: {"send_audio", "continue_task", "finish_task"}}
ILLEGAL = [
    (state, name)
    for state in (ClientState.IDLE, ClientState.STARTING, ClientState.FINISHING, ClientState.FAILED, ClientState.CLOSED)
    for name in CALLS
    if name not in LEGAL_CALLS.get(state, set())
]


@pytest.mark.parametrize(("state", "call"), ILLEGAL, ids=lambda x: getattr(x, "value", x))
def test_every_illegal_call_names_the_state_and_changes_nothing(state: ClientState, call: str) -> None:
    client = client_in(state)
    assert client.state is state
    task_id = client.task_id
    with pytest.raises(LocalProtocolError, match=f"task is {state.value}"):
        CALLS[call](client)
    assert client.state is state
    assert client.task_id == task_id


@pytest.mark.parametrize(("state", "call"), [(s, c) for s, calls in LEGAL_CALLS.items() for c in calls])
def test_legal_calls_succeed(state: ClientState, call: str) -> None:
    client = client_in(state)
    CALLS[call](client)
