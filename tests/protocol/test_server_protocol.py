"""ServerProtocol: the sans-I/O server side of one connection (the local server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from funasr_realtime.protocol import (
    ContinueTask,
    FinishTask,
    LocalProtocolError,
    RemoteProtocolError,
    RunTask,
    Sentence,
    ServerProtocol,
    ServerState,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    Usage,
    Word,
    decode_server_event,
)

TASK = "0123456789abcdef0123456789abcdef"


def run_task(task_id: str = TASK, **payload: Any) -> str:
    body = {
        "model": "fun-asr-realtime",
        "parameters": {"sample_rate": 16000, "format": "pcm"},
        "input": {},
        "task": "asr",
        "task_group": "audio",
        "function": "recognition",
        **payload,
    }
    return json.dumps({"header": {"action": "run-task", "task_id": task_id, "streaming": "duplex"}, "payload": body})


def continue_task(task_id: str = TASK, input: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {"header": {"action": "continue-task", "task_id": task_id, "streaming": "duplex"}, "payload": {"input": input}}
    )


def finish_task(task_id: str = TASK) -> str:
    return json.dumps(
        {"header": {"action": "finish-task", "task_id": task_id, "streaming": "duplex"}, "payload": {"input": {}}}
    )


def server_in(state: ServerState) -> ServerProtocol:
    """A server driven through legal steps into ``state``."""
    server = ServerProtocol()
    if state is ServerState.IDLE:
        return server
    if state is ServerState.CLOSED:
        server.connection_lost()
        return server
    if state is ServerState.FAILED:
        server.fail_task("InternalError", "x")
        return server
    server.receive_text(run_task())
    if state is ServerState.STARTING:
        return server
    server.start_task()
    if state is ServerState.RUNNING:
        return server
    server.receive_text(finish_task())
    assert state is ServerState.FINISHING
    return server


def test_server_in_helper_reaches_each_state() -> None:
    for state in ServerState:
        assert server_in(state).state is state


# --------------------------------------------------------------------------- the happy path


def test_initial_state() -> None:
    server = ServerProtocol()
    assert server.state is ServerState.IDLE
    assert server.task_id == ""


def test_full_task() -> None:
    server = ServerProtocol()
    message = server.receive_text(run_task())
    assert message == RunTask(
        task_id=TASK, model="fun-asr-realtime", parameters={"sample_rate": 16000, "format": "pcm"}, input={}
    )
    assert server.state is ServerState.STARTING
    assert server.task_id == TASK

    assert decode_server_event(server.start_task()) == TaskStarted(TASK)
    assert server.state is ServerState.RUNNING

    assert server.receive_bytes(b"\x01\x02" * 1600) == b"\x01\x02" * 1600

    partial = Sentence(begin_time=0, end_time=None, text="hel", sentence_end=False, sentence_id=1)
    wire = json.loads(server.send_result(partial))
    assert wire["header"] == {"task_id": TASK, "event": "result-generated", "attributes": {}}
    assert wire["payload"] == {"output": {"sentence": partial.to_wire()}, "usage": None}
    assert wire["payload"]["output"]["sentence"]["end_time"] is None

    context = {"context": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]}
    assert server.receive_text(continue_task(input=context)) == ContinueTask(TASK, context)
    assert server.state is ServerState.RUNNING

    assert server.receive_text(finish_task()) == FinishTask(TASK)
    assert server.state is ServerState.FINISHING

    final = Sentence(
        begin_time=0,
        end_time=500,
        text="hello",
        sentence_end=True,
        words=(Word(begin_time=0, end_time=500, text="hello"),),
    )
    event = decode_server_event(server.send_result(final, Usage(duration=1)))
    assert event.task_id == TASK
    assert getattr(event, "sentence", None) == final
    assert getattr(event, "usage", None) == Usage(duration=1)

    assert decode_server_event(server.finish_task(Usage(duration=1))) == TaskFinished(TASK, Usage(duration=1))
    assert server.state is ServerState.IDLE


def test_task_finished_frame_shape() -> None:
    server = server_in(ServerState.FINISHING)
    wire = json.loads(server.finish_task())
    assert wire == {
        "header": {"task_id": TASK, "event": "task-finished", "attributes": {}},
        "payload": {"output": {}, "usage": None},
    }


def test_reuse_for_a_second_task() -> None:
    server = server_in(ServerState.FINISHING)
    server.finish_task()
    second = "fedcba9876543210fedcba9876543210"
    assert isinstance(server.receive_text(run_task(second)), RunTask)
    assert server.task_id == second
    assert decode_server_event(server.start_task()) == TaskStarted(second)
    # the previous task's id is no longer accepted
    with pytest.raises(RemoteProtocolError):
        server.receive_text(finish_task(TASK))
    assert server.state is ServerState.RUNNING


def test_continue_task_without_input_gets_empty_input() -> None:
    server = server_in(ServerState.RUNNING)
    assert server.receive_text(continue_task(input=None)) == ContinueTask(TASK, {})


def test_run_task_from_bytes() -> None:
    server = ServerProtocol()
    assert isinstance(server.receive_text(run_task().encode()), RunTask)


# --------------------------------------------------------------------------- violations by the client


def test_audio_before_run_task_leaves_the_state_for_task_failed() -> None:
    server = ServerProtocol()
    with pytest.raises(RemoteProtocolError, match="task is idle"):
        server.receive_bytes(b"\x00" * 3200)
    assert server.state is ServerState.IDLE
    # the server answers with task-failed, then closes
    failed = decode_server_event(server.fail_task("InvalidParameter", "audio before run-task"))
    assert failed == TaskFailed("", "InvalidParameter", "audio before run-task")
    assert server.state is ServerState.FAILED


def test_audio_before_task_started_is_a_violation() -> None:
    server = server_in(ServerState.STARTING)
    with pytest.raises(RemoteProtocolError, match="task is starting"):
        server.receive_bytes(b"\x00\x00")
    assert server.state is ServerState.STARTING
    assert decode_server_event(server.fail_task("InvalidParameter", "x")).task_id == TASK


def test_audio_after_finish_task_is_a_violation() -> None:
    server = server_in(ServerState.FINISHING)
    with pytest.raises(RemoteProtocolError, match="task is finishing"):
        server.receive_bytes(b"\x00\x00")
    assert server.state is ServerState.FINISHING


@pytest.mark.parametrize("state", [ServerState.IDLE, ServerState.STARTING, ServerState.RUNNING])
def test_finish_task_with_wrong_task_id(state: ServerState) -> None:
    server = server_in(state)
    with pytest.raises(RemoteProtocolError, match="does not match"):
        server.receive_text(finish_task("someone-else"))
    assert server.state is state


def test_continue_task_with_wrong_task_id() -> None:
    server = server_in(ServerState.RUNNING)
    with pytest.raises(RemoteProtocolError, match="does not match"):
        server.receive_text(continue_task("someone-else", {}))
    assert server.state is ServerState.RUNNING


def test_finish_task_with_empty_task_id_before_any_task() -> None:
    server = ServerProtocol()
    with pytest.raises(RemoteProtocolError, match="task is idle"):
        server.receive_text(finish_task(""))
    assert server.state is ServerState.IDLE


def test_run_task_without_task_id() -> None:
    server = ServerProtocol()
    with pytest.raises(RemoteProtocolError, match=r"^Invalid payload data"):
        server.receive_text(run_task(""))
    assert server.state is ServerState.IDLE
    assert server.task_id == ""


def test_run_task_without_input_is_invalid_payload_data() -> None:
    frame = json.dumps(
        {
            "header": {"action": "run-task", "task_id": TASK, "streaming": "duplex"},
            "payload": {"model": "fun-asr-realtime", "parameters": {}},
        }
    )
    server = ServerProtocol()
    with pytest.raises(RemoteProtocolError, match=r"^Invalid payload data"):
        server.receive_text(frame)
    assert server.state is ServerState.IDLE


@pytest.mark.parametrize("state", [ServerState.STARTING, ServerState.RUNNING, ServerState.FINISHING])
def test_second_run_task_during_a_task_is_a_violation(state: ServerState) -> None:
    server = server_in(state)
    with pytest.raises(RemoteProtocolError, match=f"task is {state.value}"):
        server.receive_text(run_task("another-task"))
    assert server.state is state
    assert server.task_id == TASK  # the running task keeps its id


def test_continue_task_before_task_started_is_a_violation() -> None:
    server = server_in(ServerState.STARTING)
    with pytest.raises(RemoteProtocolError, match="task is starting"):
        server.receive_text(continue_task(TASK, {}))


@pytest.mark.parametrize(
    "text", ["", "nope", "[]", '{"header": {"action": "pause-task", "task_id": "t"}, "payload": {}}']
)
def test_malformed_instruction(text: str) -> None:
    server = server_in(ServerState.RUNNING)
    with pytest.raises(RemoteProtocolError, match=r"^Invalid payload data"):
        server.receive_text(text)
    assert server.state is ServerState.RUNNING


@pytest.mark.parametrize("state", [ServerState.FAILED, ServerState.CLOSED])
def test_nothing_is_accepted_after_failure_or_close(state: ServerState) -> None:
    server = server_in(state)
    with pytest.raises(RemoteProtocolError):
        server.receive_text(run_task("new"))
    with pytest.raises(RemoteProtocolError):
        server.receive_bytes(b"\x00\x00")
    assert server.state is state


# --------------------------------------------------------------------------- misuse by the server code


@pytest.mark.parametrize("state", [ServerState.IDLE, ServerState.RUNNING, ServerState.FINISHING])
def test_start_task_only_when_starting(state: ServerState) -> None:
    server = server_in(state)
    with pytest.raises(LocalProtocolError, match=f"task is {state.value}"):
        server.start_task()
    assert server.state is state


@pytest.mark.parametrize("state", [ServerState.IDLE, ServerState.STARTING, ServerState.FAILED])
def test_send_result_only_when_running_or_finishing(state: ServerState) -> None:
    server = server_in(state)
    with pytest.raises(LocalProtocolError, match="result-generated"):
        server.send_result(Sentence(text="x"))


@pytest.mark.parametrize("state", [ServerState.IDLE, ServerState.STARTING, ServerState.RUNNING])
def test_finish_task_only_when_finishing(state: ServerState) -> None:
    server = server_in(state)
    with pytest.raises(LocalProtocolError, match="task-finished"):
        server.finish_task()


# --------------------------------------------------------------------------- fail_task


@pytest.mark.parametrize(
    ("state", "task_id"),
    [
        (ServerState.IDLE, ""),
        (ServerState.STARTING, TASK),
        (ServerState.RUNNING, TASK),
        (ServerState.FINISHING, TASK),
    ],
)
def test_fail_task_from_each_live_state(state: ServerState, task_id: str) -> None:
    server = server_in(state)
    text = server.fail_task("CLIENT_ERROR", "request timeout after 23 seconds.")
    wire = json.loads(text)
    assert wire == {
        "header": {
            "task_id": task_id,
            "event": "task-failed",
            "attributes": {},
            "error_code": "CLIENT_ERROR",
            "error_message": "request timeout after 23 seconds.",
        },
        "payload": {},
    }
    assert server.state is ServerState.FAILED


@pytest.mark.parametrize("state", [ServerState.FAILED, ServerState.CLOSED])
def test_fail_task_from_terminal_states_is_local_error(state: ServerState) -> None:
    server = server_in(state)
    with pytest.raises(LocalProtocolError, match=f"task-failed: task is {state.value}"):
        server.fail_task("InternalError", "again")
    assert server.state is state


def test_fail_task_after_a_finished_task_uses_the_last_task_id() -> None:
    server = server_in(ServerState.FINISHING)
    server.finish_task()
    assert decode_server_event(server.fail_task("X", "y")).task_id == TASK


@pytest.mark.parametrize("state", list(ServerState))
def test_connection_lost_from_every_state(state: ServerState) -> None:
    server = server_in(state)
    server.connection_lost()
    assert server.state is ServerState.CLOSED
