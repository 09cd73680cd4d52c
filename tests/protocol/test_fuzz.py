"""Property tests: whatever the peer sends, decoding fails only with RemoteProtocolError.

Deterministic (``derandomize=True``, no example database) so the suite is stable.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funasr_realtime.protocol import (
    ClientProtocol,
    ClientState,
    ContinueTask,
    FinishTask,
    RecognitionParams,
    RemoteProtocolError,
    ResultGenerated,
    RunTask,
    Sentence,
    ServerProtocol,
    ServerState,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    Usage,
    Word,
    decode_client_message,
    decode_server_event,
)

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TASK = "0123456789abcdef0123456789abcdef"
SERVER_EVENT_TYPES = (TaskStarted, ResultGenerated, TaskFinished, TaskFailed)
CLIENT_MESSAGE_TYPES = (RunTask, ContinueTask, FinishTask)

# --------------------------------------------------------------------------- strategies

text = st.text(max_size=20)
ints = st.integers(min_value=0, max_value=10**9)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
json_dicts = st.dictionaries(st.text(max_size=8), json_values, max_size=3)

# Valid messages, used for the round trips and as seeds for the mutations below.
word_objects = st.builds(Word, begin_time=ints, end_time=ints, text=text, punctuation=text)
sentence_objects = st.builds(
    Sentence,
    begin_time=ints,
    end_time=st.none() | ints,
    text=text,
    words=st.lists(word_objects, max_size=4).map(tuple),
    heartbeat=st.none() | st.booleans(),
    sentence_end=st.none() | st.booleans(),
    sentence_id=st.none() | ints,
)
usages = st.none() | st.builds(Usage, duration=ints)


def server_event_objects(task_ids: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(TaskStarted, task_ids),
        st.builds(ResultGenerated, task_ids, sentence_objects, usages),
        st.builds(TaskFinished, task_ids, usages),
        # an empty error_code decodes as "Unknown" (see test_messages), so codes are non-empty here
        st.builds(TaskFailed, task_ids, st.text(min_size=1, max_size=20), text),
    )


def client_message_objects(task_ids: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(
            RunTask,
            task_id=task_ids,
            model=text,
            parameters=json_dicts,
            resources=st.lists(st.dictionaries(text, text, max_size=2), max_size=2).map(tuple),
            input=json_dicts,
        ),
        st.builds(ContinueTask, task_ids, json_dicts),
        st.builds(FinishTask, task_ids),
    )


server_events = server_event_objects(text)
client_messages = client_message_objects(text)

# Near-valid messages: a valid message with a few random edits (delete a key or list item,
# replace a value with one of the wrong type or with another protocol name, add a key).
PROTOCOL_WORDS = [
    "task-started",
    "result-generated",
    "task-finished",
    "task-failed",
    "run-task",
    "continue-task",
    "finish-task",
    "task-paused",
    "",
    TASK,
]
replacements: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(PROTOCOL_WORDS), scalars, st.lists(scalars, max_size=2), st.just({})
)
known_task_ids = st.sampled_from([TASK, TASK, TASK, "", "other-task"])


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[Any]) -> Any:
    value = json.loads(draw(seeds).encode())
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(_paths(value)))
        if not path:
            value = draw(replacements)
            continue
        *parent_path, key = path
        parent = value
        for step in parent_path:
            parent = parent[step]
        operation = draw(st.sampled_from(["delete", "replace", "add"]))
        if operation == "delete":
            del parent[key]
        elif operation == "replace":
            parent[key] = draw(replacements)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(replacements)
        else:
            parent.insert(key, draw(replacements))
    return value


def frames(seeds: st.SearchStrategy[Any]) -> st.SearchStrategy[str | bytes]:
    """JSON of near-valid messages and of arbitrary values, raw text and raw bytes."""
    near_valid = mutated(seeds).map(json.dumps)
    return st.one_of(
        near_valid,
        near_valid,
        near_valid,
        near_valid.map(str.encode),
        json_values.map(json.dumps),
        st.text(max_size=60),
        st.binary(max_size=60),
    )


server_frames = frames(server_event_objects(known_task_ids))
client_frames = frames(client_message_objects(known_task_ids))


# --------------------------------------------------------------------------- decoders


def test_decode_server_event_only_raises_remote_protocol_error() -> None:
    outcomes: Counter[str] = Counter()

    @FUZZ
    @given(server_frames)
    def check(frame: str | bytes) -> None:
        try:
            event = decode_server_event(frame)
        except RemoteProtocolError:
            outcomes["error"] += 1
            return
        outcomes[type(event).__name__] += 1
        assert isinstance(event, SERVER_EVENT_TYPES)
        assert isinstance(event.task_id, str)
        if isinstance(event, ResultGenerated):
            assert isinstance(event.sentence, Sentence)
            assert all(isinstance(w, Word) for w in event.sentence.words)
            assert isinstance(event.sentence.is_final, bool)
        if isinstance(event, TaskFailed):
            assert isinstance(event.error_code, str)
            assert isinstance(event.error_message, str)

    check()
    # The inputs are near-valid: every event type is decoded at least once, not only errors.
    assert set(outcomes) == {"error", *(t.__name__ for t in SERVER_EVENT_TYPES)}, outcomes


def test_decode_client_message_only_raises_remote_protocol_error() -> None:
    outcomes: Counter[str] = Counter()

    @FUZZ
    @given(client_frames)
    def check(frame: str | bytes) -> None:
        try:
            message = decode_client_message(frame)
        except RemoteProtocolError as exc:
            outcomes["error"] += 1
            assert str(exc).startswith("Invalid payload data")
            return
        outcomes[type(message).__name__] += 1
        assert isinstance(message, CLIENT_MESSAGE_TYPES)
        assert isinstance(message.task_id, str)

    check()
    assert set(outcomes) == {"error", *(t.__name__ for t in CLIENT_MESSAGE_TYPES)}, outcomes


# --------------------------------------------------------------------------- protocol objects


def client_in(state: ClientState) -> ClientProtocol:
    client = ClientProtocol(task_ids=lambda: TASK)
    if state is ClientState.IDLE:
        return client
    client.run_task(RecognitionParams())
    if state is ClientState.STARTING:
        return client
    client.receive_text(TaskStarted(TASK).encode())
    if state is ClientState.STREAMING:
        return client
    client.finish_task()
    assert state is ClientState.FINISHING
    return client


CLIENT_NEXT = {
    ClientState.IDLE: set(),
    ClientState.STARTING: {ClientState.STREAMING, ClientState.FAILED},
    ClientState.STREAMING: {ClientState.STREAMING, ClientState.IDLE, ClientState.FAILED},
    ClientState.FINISHING: {ClientState.FINISHING, ClientState.IDLE, ClientState.FAILED},
}


def test_client_receive_text_only_raises_remote_protocol_error() -> None:
    accepted: Counter[ClientState] = Counter()

    @FUZZ
    @given(st.sampled_from(list(CLIENT_NEXT)), server_frames)
    def check(state: ClientState, frame: str | bytes) -> None:
        client = client_in(state)
        try:
            event = client.receive_text(frame)
        except RemoteProtocolError:
            assert client.state is ClientState.FAILED
            return
        accepted[state] += 1
        assert event is None or isinstance(event, SERVER_EVENT_TYPES)
        assert client.state in CLIENT_NEXT[state]
        if event is not None and not (isinstance(event, TaskFailed) and event.task_id == ""):
            assert event.task_id == TASK

    check()
    assert set(accepted) == {ClientState.STARTING, ClientState.STREAMING, ClientState.FINISHING}, accepted


@FUZZ
@given(st.sampled_from(list(CLIENT_NEXT)), st.binary(max_size=64))
def test_client_receive_bytes_always_fails(state: ClientState, data: bytes) -> None:
    client = client_in(state)
    with pytest.raises(RemoteProtocolError):
        client.receive_bytes(data)
    assert client.state is ClientState.FAILED


def server_in(state: ServerState) -> ServerProtocol:
    server = ServerProtocol()
    if state is ServerState.IDLE:
        return server
    if state is ServerState.FAILED:
        server.fail_task("X", "y")
        return server
    server.receive_text(RunTask(task_id=TASK, model="fun-asr-realtime", parameters={}).encode())
    if state is ServerState.STARTING:
        return server
    server.start_task()
    if state is ServerState.RUNNING:
        return server
    server.receive_text(FinishTask(TASK).encode())
    assert state is ServerState.FINISHING
    return server


SERVER_NEXT = {
    ServerState.IDLE: {ServerState.STARTING},
    ServerState.STARTING: set(),
    ServerState.RUNNING: {ServerState.RUNNING, ServerState.FINISHING},
    ServerState.FINISHING: set(),
    ServerState.FAILED: set(),
}


def test_server_receive_text_only_raises_remote_protocol_error() -> None:
    accepted: Counter[ServerState] = Counter()

    @FUZZ
    @given(st.sampled_from(list(SERVER_NEXT)), client_frames)
    def check(state: ServerState, frame: str | bytes) -> None:
        server = server_in(state)
        task_before = server.task_id
        try:
            message = server.receive_text(frame)
        except RemoteProtocolError:
            # Left as it was, so the server can still answer with task-failed.
            assert server.state is state
            assert server.task_id == task_before
            return
        accepted[state] += 1
        assert isinstance(message, CLIENT_MESSAGE_TYPES)
        assert server.state in SERVER_NEXT[state]
        assert message.task_id == server.task_id
        assert message.task_id != ""

    check()
    assert set(accepted) == {ServerState.IDLE, ServerState.RUNNING}, accepted


@FUZZ
@given(
    st.sampled_from([ServerState.IDLE, ServerState.STARTING, ServerState.FINISHING, ServerState.FAILED]),
    st.binary(max_size=4096),
)
def test_server_receive_bytes_in_the_wrong_state(state: ServerState, data: bytes) -> None:
    server = server_in(state)
    with pytest.raises(RemoteProtocolError, match=f"task is {state.value}"):
        server.receive_bytes(data)
    assert server.state is state


@FUZZ
@given(st.binary(max_size=40_000))
def test_server_receive_bytes_while_running_returns_the_audio(data: bytes) -> None:
    server = server_in(ServerState.RUNNING)
    assert server.receive_bytes(data) == data
    assert server.state is ServerState.RUNNING


# --------------------------------------------------------------------------- round trips


@FUZZ
@given(server_events)
def test_server_event_round_trip(event: Any) -> None:
    assert decode_server_event(event.encode()) == event


@FUZZ
@given(client_messages)
def test_client_message_round_trip(message: Any) -> None:
    assert decode_client_message(message.encode()) == message


@FUZZ
@given(st.integers(min_value=-(10**6), max_value=10**6), sentence_objects)
def test_shifted_moves_every_time_by_the_offset(offset: int, sentence: Sentence) -> None:
    moved = sentence.shifted(offset)
    assert moved.begin_time == sentence.begin_time + offset
    assert (moved.end_time is None) == (sentence.end_time is None)
    if sentence.end_time is not None:
        assert moved.end_time == sentence.end_time + offset
    assert [(w.begin_time - offset, w.end_time - offset) for w in moved.words] == [
        (w.begin_time, w.end_time) for w in sentence.words
    ]
    assert moved.is_final == sentence.is_final
    assert moved.shifted(-offset) == sentence
