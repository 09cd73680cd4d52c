"""Sans-I/O client side of one DashScope real-time ASR connection.

:class:`ClientProtocol` knows what may be sent and received in each state of a connection
and turns calls into wire frames and wire frames into typed events. It performs no I/O:

* ``run_task``, ``send_audio``, ``continue_task`` and ``finish_task`` return the frames the
  driver must write to the socket, in order (``str`` = text frame, ``bytes`` = binary frame);
* ``receive_text`` / ``receive_bytes`` take a frame read from the socket and return the
  decoded event, or ``None`` when there is nothing to report (heartbeat results);
* ``connection_lost`` records that the socket is gone.

One connection carries one task at a time; after ``task-finished`` it may carry the next
(a new task id), after ``task-failed`` it may not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from .errors import RemoteProtocolError
from .messages import (
    ContinueTask,
    FinishTask,
    ResultGenerated,
    RunTask,
    Sentence,
    ServerEvent,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    decode_server_event,
)
from .params import RecognitionParams
from .states import ClientState, ClientTrigger, client_machine

__all__ = ["MAX_AUDIO_FRAME_BYTES", "ClientProtocol"]

#: Largest binary frame sent; bigger chunks are split (the service recommends 1-16 KB).
MAX_AUDIO_FRAME_BYTES = 16000

_TRIGGERS: dict[type[ServerEvent], ClientTrigger] = {
    TaskStarted: ClientTrigger.TASK_STARTED,
    ResultGenerated: ClientTrigger.RESULT,
    TaskFinished: ClientTrigger.TASK_FINISHED,
    TaskFailed: ClientTrigger.TASK_FAILED,
}


def _new_task_id() -> str:
    return uuid.uuid4().hex


class ClientProtocol:
    """The client's view of one connection: state, current task id, framing.

    ``task_ids`` generates task ids (default: 32 hex digits, like the official SDK); pass a
    deterministic one in tests.
    """

    def __init__(
        self, *, max_frame_bytes: int = MAX_AUDIO_FRAME_BYTES, task_ids: Callable[[], str] = _new_task_id
    ) -> None:
        if max_frame_bytes < 2 or max_frame_bytes % 2:
            raise ValueError("max_frame_bytes must be an even number of at least 2")
        self._machine = client_machine()
        self._max_frame = max_frame_bytes
        self._task_ids = task_ids
        self.task_id: str | None = None
        #: How far into the current task's audio the server has reported (ms): the furthest
        #: time of any result, heartbeats included. A sender uses it to pace itself.
        self.reported_ms = 0

    @property
    def state(self) -> ClientState:
        return self._machine.state

    # ------------------------------------------------------------------ sending

    def run_task(self, params: RecognitionParams, *, input: dict[str, Any] | None = None) -> str:
        """Start a task with a fresh task id. Returns the run-task text frame.

        ``input`` (the run-task's ``payload.input``) defaults to ``params.to_input()``: the
        params' context, so every task of a stream carries it.
        Next: wait for ``TaskStarted`` from :meth:`receive_text` before sending audio.
        """
        self._machine.fire(ClientTrigger.RUN_TASK)
        self.task_id = self._task_ids()
        self.reported_ms = 0
        message = RunTask(
            task_id=self.task_id,
            model=params.model,
            parameters=params.to_parameters(),
            resources=params.to_resources(),
            input=params.to_input() if input is None else input,
        )
        return message.encode()

    @property
    def max_frame_bytes(self) -> int:
        """The largest audio frame :meth:`send_audio` sends whole (larger data is split)."""
        return self._max_frame

    def send_audio(self, data: bytes) -> list[bytes]:
        """Frame ``data`` for sending; chunks above the frame limit are split, never rejected.

        Raises :class:`LocalProtocolError` unless the task is streaming.
        """
        self._machine.fire(ClientTrigger.SEND_AUDIO)
        if not data:
            return []  # an empty binary frame means nothing to the service
        limit = self._max_frame
        if len(data) <= limit:
            return [data]
        view = memoryview(data)
        return [bytes(view[i : i + limit]) for i in range(0, len(data), limit)]

    def continue_task(self, input: dict[str, Any]) -> str:
        """Update the running task (Fun-ASR context). Returns the continue-task frame."""
        self._machine.fire(ClientTrigger.CONTINUE_TASK)
        assert self.task_id is not None  # guaranteed by the state table
        return ContinueTask(self.task_id, input).encode()

    def finish_task(self) -> str:
        """No more audio for this task. Returns the finish-task frame.

        Next: keep receiving; results may still arrive, then ``TaskFinished``.
        """
        self._machine.fire(ClientTrigger.FINISH_TASK)
        assert self.task_id is not None
        return FinishTask(self.task_id).encode()

    # ------------------------------------------------------------------ receiving

    def receive_text(self, text: str | bytes) -> ServerEvent | None:
        """Decode a text frame from the server and advance the state.

        Returns the event, or None for heartbeat results (which keep a task alive and carry
        no text). Raises :class:`RemoteProtocolError` for malformed or unexpected messages,
        after which the connection is failed.
        """
        try:
            event = decode_server_event(text)
        except RemoteProtocolError:
            self._fail()
            raise
        self._check_task_id(event)
        self._machine.fire(_TRIGGERS[type(event)])
        if isinstance(event, ResultGenerated):
            self.reported_ms = max(self.reported_ms, _furthest_ms(event.sentence))
            if event.sentence.heartbeat:
                return None
        return event

    def receive_bytes(self, data: bytes) -> NoReturn:
        """Binary frames are never sent by the ASR service: always a protocol violation."""
        self._fail()
        raise RemoteProtocolError(f"unexpected binary frame of {len(data)} bytes from the server")

    def connection_lost(self) -> None:
        """The socket is closed; nothing can be sent or received any more."""
        self._machine.fire(ClientTrigger.CONNECTION_LOST)

    def _check_task_id(self, event: ServerEvent) -> None:
        if event.task_id == self.task_id:
            return
        # A service may fail a connection before any task with an empty task id.
        if isinstance(event, TaskFailed) and not event.task_id:
            return
        self._fail()
        raise RemoteProtocolError(f"event for task {event.task_id[:64]!r} while the current task is {self.task_id!r}")

    def _fail(self) -> None:
        """The peer sent a frame no event describes: fail the connection through the table.

        Failed and closed connections are over already; the table leaves them as they are.
        """
        if self._machine.allows(ClientTrigger.PROTOCOL_VIOLATION):
            self._machine.fire(ClientTrigger.PROTOCOL_VIOLATION)


def _furthest_ms(sentence: Sentence) -> int:
    """The latest audio time a result speaks for (its end, its last word, or its start)."""
    furthest = max(sentence.begin_time, sentence.end_time or 0)
    if sentence.words:
        furthest = max(furthest, sentence.words[-1].end_time)
    return furthest
