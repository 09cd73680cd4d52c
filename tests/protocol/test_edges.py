"""Edge behaviours: idle task-failed, task id reuse, empty audio."""

from __future__ import annotations

import pytest

from funasr_realtime.protocol import (
    ClientProtocol,
    ClientState,
    RecognitionParams,
    RemoteProtocolError,
    ServerProtocol,
    TaskFailed,
)
from funasr_realtime.protocol.messages import FinishTask, RunTask, TaskFinished, TaskStarted


def test_task_failed_on_an_idle_connection_fails_it() -> None:
    client = ClientProtocol()
    event = client.receive_text(TaskFailed("", "InternalError", "shutting down").encode())
    assert isinstance(event, TaskFailed) and event.error_code == "InternalError"
    assert client.state is ClientState.FAILED


def test_empty_audio_sends_no_frame() -> None:
    client = ClientProtocol(task_ids=lambda: "t1")
    client.run_task(RecognitionParams())
    client.receive_text(TaskStarted("t1").encode())
    assert client.send_audio(b"") == []
    assert client.state is ClientState.STREAMING


def test_server_refuses_a_reused_task_id() -> None:
    server = ServerProtocol()
    server.receive_text(RunTask("same", "fun-asr-realtime", {}).encode())
    server.start_task()
    server.receive_text(FinishTask("same").encode())
    server.finish_task()
    with pytest.raises(RemoteProtocolError, match="new task_id"):
        server.receive_text(RunTask("same", "fun-asr-realtime", {}).encode())


def test_client_ids_are_fresh_per_task_on_a_reused_connection() -> None:
    client = ClientProtocol()
    client.run_task(RecognitionParams())
    first = client.task_id
    assert first is not None
    client.receive_text(TaskStarted(first).encode())
    client.finish_task()
    client.receive_text(TaskFinished(first).encode())
    client.run_task(RecognitionParams())
    assert client.task_id != first and len(client.task_id or "") == 32
