"""Sans-I/O server side of one DashScope real-time ASR connection (the local server).

:class:`ServerProtocol` is the mirror of :class:`~funasr_realtime.protocol.client.ClientProtocol`:

* ``receive_text`` / ``receive_bytes`` take a client frame and return the decoded
  instruction (or the audio); a frame the protocol forbids raises
  :class:`RemoteProtocolError` whose text is what the server should put in task-failed;
* ``start_task``, ``send_result``, ``finish_task`` and ``fail_task`` return the text frame
  to write. After ``fail_task`` the server closes the connection (as the service does).
"""

from __future__ import annotations

from typing import Any

from .errors import RemoteProtocolError
from .messages import (
    ClientMessage,
    ContinueTask,
    FinishTask,
    ResultGenerated,
    RunTask,
    Sentence,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    Usage,
    decode_client_message,
)
from .states import ServerState, ServerTrigger, server_machine

__all__ = ["ServerProtocol"]

_TRIGGERS: dict[type[ClientMessage], ServerTrigger] = {
    RunTask: ServerTrigger.RUN_TASK,
    ContinueTask: ServerTrigger.CONTINUE_TASK,
    FinishTask: ServerTrigger.FINISH_TASK,
}


class ServerProtocol:
    """The server's view of one connection. ``task_id`` is the current (or last) task's id."""

    def __init__(self) -> None:
        self._machine = server_machine()
        self.task_id = ""

    @property
    def state(self) -> ServerState:
        return self._machine.state

    def receive_text(self, text: str | bytes) -> ClientMessage:
        """Decode an instruction and advance the state.

        Raises :class:`RemoteProtocolError` for malformed JSON, unknown actions, a task id
        that does not match the running task, or an instruction the state forbids.
        """
        message = decode_client_message(text)
        if isinstance(message, RunTask):
            if not message.task_id:
                raise RemoteProtocolError("Invalid payload data: run-task needs header.task_id")
            if message.task_id == self.task_id:
                raise RemoteProtocolError("Invalid payload data: a new task needs a new task_id")
        elif message.task_id != self.task_id:
            raise RemoteProtocolError(f"task id {message.task_id[:64]!r} does not match the running task")
        self._machine.fire(_TRIGGERS[type(message)])
        if isinstance(message, RunTask):
            self.task_id = message.task_id
        return message

    def receive_bytes(self, data: bytes) -> bytes:
        """Accept an audio frame; raises :class:`RemoteProtocolError` unless a task is running."""
        self._machine.fire(ServerTrigger.AUDIO)
        return data

    def start_task(self) -> str:
        """Accept the pending run-task: the task-started frame."""
        self._machine.fire(ServerTrigger.TASK_STARTED)
        return TaskStarted(self.task_id).encode()

    def send_result(
        self, sentence: Sentence, usage: Usage | None = None, *, debug: dict[str, Any] | None = None
    ) -> str:
        """A result-generated frame for the running task (``debug``: see ``ResultGenerated``)."""
        self._machine.fire(ServerTrigger.RESULT)
        return ResultGenerated(self.task_id, sentence, usage, debug).encode()

    def finish_task(self, usage: Usage | None = None) -> str:
        """The task-finished frame; the connection may then carry a new run-task."""
        self._machine.fire(ServerTrigger.TASK_FINISHED)
        return TaskFinished(self.task_id, usage).encode()

    def fail_task(self, error_code: str, error_message: str) -> str:
        """The task-failed frame; the caller must then close the connection."""
        self._machine.fire(ServerTrigger.TASK_FAILED)
        return TaskFailed(self.task_id, error_code, error_message).encode()

    def connection_lost(self) -> None:
        self._machine.fire(ServerTrigger.CONNECTION_LOST)
