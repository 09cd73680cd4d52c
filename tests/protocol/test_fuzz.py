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
    messages,
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

# Valid messages, used for the round trips and as seeds for the mutations below. Times are
# ordered (end ≥ begin) and task ids use the decoders' charset: see the bounds tests below.
spans = st.tuples(ints, ints).map(sorted)
word_objects = spans.flatmap(
    lambda span: st.builds(Word, begin_time=st.just(span[0]), end_time=st.just(span[1]), text=text, punctuation=text)
)
sentence_objects = st.tuples(spans, st.booleans()).flatmap(
    lambda spec: st.builds(
        Sentence,
        begin_time=st.just(spec[0][0]),
        end_time=st.just(spec[0][1] if spec[1] else None),
        text=text,
        words=st.lists(word_objects, max_size=4).map(tuple),
        heartbeat=st.none() | st.booleans(),
        sentence_end=st.none() | st.booleans(),
        sentence_id=st.none() | ints,
    )
)
usages = st.none() | st.builds(Usage, duration=ints)
task_id_text = st.from_regex(r"[A-Za-z0-9_.:-]{0,40}", fullmatch=True)


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


server_events = server_event_objects(task_id_text)
client_messages = client_message_objects(task_id_text)

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


# --------------------------------------------------------------------------- bounds (issue 11)
# Every number the server decoder accepts is bounded; everything outside is rejected as
# RemoteProtocolError at decode time (never a value that overflows downstream).

TIME_FIELDS = ("begin_time", "end_time")
EVENT_CHARS = "abcdefghijklmnopqrstuvwxyz-"
in_range_times = st.integers(min_value=0, max_value=messages.MAX_TIME_MS)
absurd_numbers = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=messages.MAX_TIME_MS + 1),
    st.integers(min_value=10**40, max_value=10**400),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet="0123456789", min_size=1, max_size=12),
)


def result_frame(sentence: dict[str, Any], usage: Any = None) -> str:
    payload = {"output": {"sentence": sentence}, "usage": usage}
    return json.dumps({"header": {"task_id": TASK, "event": "result-generated"}, "payload": payload})


def final(begin: Any = 0, end: Any = 500, **fields: Any) -> dict[str, Any]:
    return {"begin_time": begin, "end_time": end, "text": "x", "sentence_end": True, **fields}


@FUZZ
@given(st.sampled_from(TIME_FIELDS), absurd_numbers)
def test_absurd_sentence_times_are_rejected(name: str, value: Any) -> None:
    # The other time is in range and ordered, so only the absurd value can be the reason.
    sentence = final(begin=value, end=messages.MAX_TIME_MS) if name == "begin_time" else final(end=value)
    with pytest.raises(RemoteProtocolError, match="malformed server message"):
        decode_server_event(result_frame(sentence))


@FUZZ
@given(st.sampled_from(TIME_FIELDS), absurd_numbers)
def test_absurd_word_times_are_rejected(name: str, value: Any) -> None:
    word = {"begin_time": 0, "end_time": messages.MAX_TIME_MS, "text": "w", name: value}
    with pytest.raises(RemoteProtocolError, match="words"):
        decode_server_event(result_frame(final(words=[word])))


@FUZZ
@given(absurd_numbers)
def test_absurd_sentence_ids_and_durations_are_rejected(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= messages.MAX_SENTENCE_ID:
        return  # in range for ids (the strategy is shared with times)
    with pytest.raises(RemoteProtocolError, match="sentence_id"):
        decode_server_event(result_frame(final(sentence_id=value)))
    with pytest.raises(RemoteProtocolError, match="duration"):
        decode_server_event(result_frame(final(), {"duration": value}))
    finished = {"header": {"task_id": TASK, "event": "task-finished"}, "payload": {"usage": {"duration": value}}}
    with pytest.raises(RemoteProtocolError, match="duration"):
        decode_server_event(json.dumps(finished))


@FUZZ
@given(in_range_times, in_range_times)
def test_times_in_range_decode_and_order_is_enforced(a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    event = decode_server_event(
        result_frame(final(begin, end, words=[{"begin_time": begin, "end_time": end, "text": "w"}]))
    )
    assert isinstance(event, ResultGenerated)
    assert (event.sentence.begin_time, event.sentence.end_time) == (begin, end)
    if begin < end:
        with pytest.raises(RemoteProtocolError, match="before begin_time"):
            decode_server_event(result_frame(final(end, begin)))
        word = {"begin_time": end, "end_time": begin, "text": "w"}
        with pytest.raises(RemoteProtocolError, match="before begin_time"):
            decode_server_event(result_frame(final(words=[word])))


@FUZZ
@given(st.text(min_size=1, max_size=200))
def test_task_ids_outside_the_charset_or_length_are_rejected(task_id: str) -> None:
    frame = json.dumps({"header": {"task_id": task_id, "event": "task-started"}})
    client_frame = FinishTask(task_id).encode()
    valid = len(task_id) <= messages.MAX_TASK_ID_CHARS and all(
        c.isascii() and (c.isalnum() or c in "_.:-") for c in task_id
    )
    if valid:
        assert decode_server_event(frame) == TaskStarted(task_id)
        assert decode_client_message(client_frame) == FinishTask(task_id)
        return
    with pytest.raises(RemoteProtocolError, match="task_id"):
        decode_server_event(frame)
    with pytest.raises(RemoteProtocolError, match="task_id"):
        decode_client_message(client_frame)


@FUZZ
@given(st.integers(min_value=0, max_value=10**6))
def test_text_lengths_are_bounded(extra: int) -> None:
    decode_server_event(result_frame(final(text="a" * messages.MAX_TEXT_CHARS)))
    with pytest.raises(RemoteProtocolError, match="text"):
        decode_server_event(result_frame(final(text="a" * (messages.MAX_TEXT_CHARS + 1 + extra))))
    word = {"begin_time": 0, "end_time": 1, "text": "w" * (messages.MAX_WORD_CHARS + 1 + extra % 1000)}
    with pytest.raises(RemoteProtocolError, match="text"):
        decode_server_event(result_frame(final(words=[word])))


def test_too_many_words_are_rejected_before_they_are_built() -> None:
    words = [{"begin_time": 0, "end_time": 1, "text": "w"}] * (messages.MAX_WORDS + 1)
    with pytest.raises(RemoteProtocolError, match="words"):
        decode_server_event(result_frame(final(words=words)))


def test_bounds_apply_to_the_wire_not_to_objects_built_in_code() -> None:
    """A merged or test-built sentence is not a peer's message: only decoding is bounded."""
    built = Sentence(begin_time=900, end_time=100, sentence_id=-1)
    assert built.end_time == 100
    with pytest.raises(RemoteProtocolError):
        decode_server_event(ResultGenerated(TASK, built).encode())


@FUZZ
@given(st.text(min_size=1, max_size=200))
def test_unknown_event_text_is_quoted_only_when_it_looks_like_an_event(name: str) -> None:
    """A hostile peer's text (a key it echoes, control characters) stays out of error texts."""
    frame = json.dumps({"header": {"task_id": TASK, "event": name}})
    if name in {"task-started", "result-generated", "task-finished", "task-failed"}:
        return
    with pytest.raises(RemoteProtocolError) as caught:
        decode_server_event(frame)
    looks_like_event = len(name) <= 64 and name[0] in "abcdefghijklmnopqrstuvwxyz" and set(name) <= set(EVENT_CHARS)
    assert (repr(name) in str(caught.value)) == looks_like_event


@FUZZ
@given(st.integers(min_value=2049, max_value=100_000))
def test_task_failed_texts_are_cut_not_rejected(size: int) -> None:
    header = {"task_id": TASK, "event": "task-failed", "error_code": "C" * size, "error_message": "m" * size}
    event = decode_server_event(json.dumps({"header": header}))
    assert isinstance(event, TaskFailed)
    assert len(event.error_code) <= 128 and len(event.error_message) <= 2048
    assert event.error_code.startswith("CCC") and event.error_message.startswith("mmm")
