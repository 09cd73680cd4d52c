"""A ClientProtocol and a ServerProtocol talking to each other in memory (like h11's ConnectionPair)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

import pytest

from funasr_realtime.protocol import (
    ClientProtocol,
    ClientState,
    ContinueTask,
    FinishTask,
    LocalProtocolError,
    RecognitionParams,
    RemoteProtocolError,
    ResultGenerated,
    RunTask,
    Sentence,
    ServerEvent,
    ServerProtocol,
    ServerState,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    Usage,
    Word,
)

PARAMS = RecognitionParams(model="fun-asr-realtime", sample_rate=16000, language_hints=["en"])


class ConnectionPair:
    """Shuttles frames between a client and a server; records every frame on the wire."""

    def __init__(self, client: ClientProtocol | None = None) -> None:
        counter = itertools.count(1)
        self.client = client or ClientProtocol(task_ids=lambda: f"{next(counter):032x}")
        self.server = ServerProtocol()
        self.wire: list[tuple[str, str | bytes]] = []

    def to_server(self, frames: str | bytes | Iterable[str | bytes]) -> list[Any]:
        """Deliver client frames to the server; returns what the server decoded."""
        if isinstance(frames, (str, bytes)):
            frames = [frames]
        received: list[Any] = []
        for frame in frames:
            self.wire.append(("C>S", frame))
            if isinstance(frame, bytes):
                received.append(self.server.receive_bytes(frame))
            else:
                received.append(self.server.receive_text(frame))
        return received

    def to_client(self, frame: str | bytes) -> ServerEvent | None:
        """Deliver one server frame to the client; returns the client's event."""
        self.wire.append(("S>C", frame))
        if isinstance(frame, bytes):
            self.client.receive_bytes(frame)
        return self.client.receive_text(frame)

    # helpers for the usual steps

    def start(self, params: RecognitionParams = PARAMS) -> str:
        (run,) = self.to_server(self.client.run_task(params))
        assert isinstance(run, RunTask)
        assert run.task_id == self.client.task_id
        assert self.to_client(self.server.start_task()) == TaskStarted(run.task_id)
        return run.task_id

    def audio(self, data: bytes) -> bytes:
        return b"".join(self.to_server(self.client.send_audio(data)))

    def finish(self, usage: Usage | None = None) -> TaskFinished:
        (finish,) = self.to_server(self.client.finish_task())
        assert isinstance(finish, FinishTask)
        event = self.to_client(self.server.finish_task(usage))
        assert isinstance(event, TaskFinished)
        return event

    def states(self) -> tuple[ClientState, ServerState]:
        return self.client.state, self.server.state


def kind(frame: str | bytes) -> str:
    if isinstance(frame, bytes):
        return "bin"
    header = json.loads(frame)["header"]
    return str(header.get("event") or header["action"])


def partial(text: str) -> Sentence:
    return Sentence(begin_time=0, end_time=None, text=text, sentence_end=False, sentence_id=1, heartbeat=False)


def final(text: str, end: int) -> Sentence:
    words = tuple(
        Word(begin_time=i * 100, end_time=(i + 1) * 100, text=w, punctuation="") for i, w in enumerate(text.split())
    )
    return Sentence(
        begin_time=0, end_time=end, text=text, sentence_end=True, sentence_id=1, heartbeat=False, words=words
    )


# --------------------------------------------------------------------------- happy paths


def test_full_task_with_partial_and_final_results() -> None:
    pair = ConnectionPair()
    task_id = pair.start()
    assert pair.states() == (ClientState.STREAMING, ServerState.RUNNING)

    audio = bytes(i % 256 for i in range(20000))
    assert pair.audio(audio) == audio  # split into 16000 + 4000 and reassembled

    first = pair.to_client(pair.server.send_result(partial("hello")))
    assert isinstance(first, ResultGenerated)
    assert first.task_id == task_id
    assert first.sentence.text == "hello"
    assert not first.sentence.is_final
    assert first.usage is None

    (ctx,) = pair.to_server(pair.client.continue_task({"context": []}))
    assert ctx == ContinueTask(task_id, {"context": []})

    (finish,) = pair.to_server(pair.client.finish_task())
    assert finish == FinishTask(task_id)
    assert pair.states() == (ClientState.FINISHING, ServerState.FINISHING)

    last = pair.to_client(pair.server.send_result(final("hello world", 600), Usage(duration=1)))
    assert isinstance(last, ResultGenerated)
    assert last.sentence.is_final
    assert [w.text for w in last.sentence.words] == ["hello", "world"]
    assert last.usage == Usage(duration=1)

    done = pair.to_client(pair.server.finish_task(Usage(duration=1)))
    assert done == TaskFinished(task_id, Usage(duration=1))
    assert pair.states() == (ClientState.IDLE, ServerState.IDLE)

    assert [(direction, kind(f)) for direction, f in pair.wire] == [
        ("C>S", "run-task"),
        ("S>C", "task-started"),
        ("C>S", "bin"),
        ("C>S", "bin"),
        ("S>C", "result-generated"),
        ("C>S", "continue-task"),
        ("C>S", "finish-task"),
        ("S>C", "result-generated"),
        ("S>C", "task-finished"),
    ]


def test_run_task_parameters_arrive_at_the_server() -> None:
    pair = ConnectionPair()
    params = RecognitionParams(max_sentence_silence=800, vocabulary_id="vocab-x", extra={"new_option": [1]})
    (run,) = pair.to_server(pair.client.run_task(params, input={"context": [1]}))
    assert run.model == "fun-asr-realtime"
    assert run.parameters == params.to_parameters()
    assert run.input == {"context": [1]}


def test_connection_reuse_for_a_second_task_with_a_new_id() -> None:
    pair = ConnectionPair()
    first = pair.start()
    pair.audio(b"\x00" * 3200)
    pair.finish()
    second = pair.start()
    assert second != first
    assert pair.server.task_id == second
    assert pair.to_client(pair.server.send_result(final("again", 100))) is not None
    pair.finish()
    assert pair.states() == (ClientState.IDLE, ServerState.IDLE)


def test_heartbeats_are_swallowed_by_the_client() -> None:
    pair = ConnectionPair()
    pair.start()
    assert pair.to_client(pair.server.send_result(Sentence(heartbeat=True, sentence_end=False))) is None
    assert pair.states() == (ClientState.STREAMING, ServerState.RUNNING)


def test_results_keep_unknown_fields_end_to_end() -> None:
    pair = ConnectionPair()
    pair.start()
    sentence = Sentence.model_validate(
        {"text": "x", "end_time": 10, "sentence_end": True, "emo_tag": "neutral", "emo_confidence": 0.5}
    )
    event = pair.to_client(pair.server.send_result(sentence))
    assert isinstance(event, ResultGenerated)
    assert event.sentence == sentence
    assert event.sentence.model_extra == {"emo_tag": "neutral", "emo_confidence": 0.5}


# --------------------------------------------------------------------------- task-failed


def test_task_failed_before_start() -> None:
    pair = ConnectionPair()
    pair.to_server(pair.client.run_task(RecognitionParams(model="no-such-model")))
    event = pair.to_client(pair.server.fail_task("ModelNotFound", "Model not found"))
    assert isinstance(event, TaskFailed)
    assert event.task_id == pair.client.task_id
    assert event.error_code == "ModelNotFound"
    assert pair.states() == (ClientState.FAILED, ServerState.FAILED)
    pair.client.connection_lost()
    pair.server.connection_lost()
    assert pair.states() == (ClientState.CLOSED, ServerState.CLOSED)


def test_task_failed_mid_stream() -> None:
    pair = ConnectionPair()
    task_id = pair.start()
    pair.audio(b"\x00" * 6400)
    event = pair.to_client(pair.server.fail_task("CLIENT_ERROR", "request timeout after 23 seconds."))
    assert event == TaskFailed(task_id, "CLIENT_ERROR", "request timeout after 23 seconds.")
    assert pair.states() == (ClientState.FAILED, ServerState.FAILED)


def test_task_failed_while_finishing() -> None:
    pair = ConnectionPair()
    pair.start()
    pair.to_server(pair.client.finish_task())
    event = pair.to_client(pair.server.fail_task("InternalError", "oops"))
    assert isinstance(event, TaskFailed)
    assert pair.states() == (ClientState.FAILED, ServerState.FAILED)


# --------------------------------------------------------------------------- violations on each side


def test_client_side_violation_audio_before_task_started() -> None:
    """A rogue client sends audio before task-started: the server rejects it and answers task-failed."""
    pair = ConnectionPair()
    pair.to_server(pair.client.run_task(PARAMS))
    with pytest.raises(RemoteProtocolError, match="task is starting") as info:
        pair.to_server(b"\x00" * 3200)  # bypasses ClientProtocol, which would refuse
    assert pair.server.state is ServerState.STARTING
    event = pair.to_client(pair.server.fail_task("InvalidParameter", str(info.value)))
    assert isinstance(event, TaskFailed)
    assert pair.states() == (ClientState.FAILED, ServerState.FAILED)


def test_client_side_violation_wrong_task_id() -> None:
    pair = ConnectionPair()
    pair.start()
    forged = json.dumps(
        {"header": {"action": "finish-task", "task_id": "f" * 32, "streaming": "duplex"}, "payload": {"input": {}}}
    )
    with pytest.raises(RemoteProtocolError, match="does not match"):
        pair.to_server(forged)
    assert pair.server.state is ServerState.RUNNING
    event = pair.to_client(pair.server.fail_task("InvalidParameter", "task id mismatch"))
    assert isinstance(event, TaskFailed)
    assert pair.client.state is ClientState.FAILED


def test_client_side_violation_malformed_instruction() -> None:
    pair = ConnectionPair()
    pair.start()
    with pytest.raises(RemoteProtocolError, match=r"^Invalid payload data"):
        pair.to_server('{"header": {"action": "finish-task"}}')
    event = pair.to_client(pair.server.fail_task("InvalidParameter", "Invalid payload data"))
    assert isinstance(event, TaskFailed)
    assert event.error_message == "Invalid payload data"


def test_server_side_violation_event_for_another_task() -> None:
    pair = ConnectionPair()
    pair.start()
    rogue = ResultGenerated("e" * 32, Sentence(text="not yours")).encode()
    with pytest.raises(RemoteProtocolError):
        pair.to_client(rogue)
    assert pair.client.state is ClientState.FAILED


def test_server_side_violation_result_after_task_finished() -> None:
    pair = ConnectionPair()
    task_id = pair.start()
    pair.finish()
    late = ResultGenerated(task_id, Sentence(text="late")).encode()
    with pytest.raises(RemoteProtocolError, match="task is idle"):
        pair.to_client(late)
    assert pair.client.state is ClientState.FAILED


def test_server_side_violation_binary_frame() -> None:
    pair = ConnectionPair()
    pair.start()
    with pytest.raises(RemoteProtocolError, match="binary"):
        pair.to_client(b"\x00\x01")
    assert pair.client.state is ClientState.FAILED


def test_server_side_violation_unknown_event() -> None:
    pair = ConnectionPair()
    task_id = pair.start()
    text = json.dumps({"header": {"task_id": task_id, "event": "task-paused", "attributes": {}}, "payload": {}})
    with pytest.raises(RemoteProtocolError, match="task-paused"):
        pair.to_client(text)
    assert pair.client.state is ClientState.FAILED


def test_client_refuses_to_misuse_the_connection() -> None:
    """The client's own state machine keeps it from committing the server-side violations above."""
    pair = ConnectionPair()
    pair.to_server(pair.client.run_task(PARAMS))
    with pytest.raises(LocalProtocolError, match="task is starting"):
        pair.client.send_audio(b"\x00\x00")
    assert pair.wire == [("C>S", pair.wire[0][1])]  # nothing else reached the wire
