"""What happens to a task's events: user callbacks for ``start()``, a collector for ``call()``.

Both are :class:`~._session.TaskSink` implementations; their methods run on the event loop
thread and never block it (callbacks are posted to the callback thread).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from ..protocol import FunAsrError, Sentence
from ._dispatch import CallbackThread
from .errors import describe
from .result import RecognitionCallback, RecognitionResult

__all__ = ["CallbackSink", "Collector", "TaskOwner", "error_result"]


class TaskOwner(Protocol):
    """The Recognition, told about the task as it goes (from the loop thread)."""

    def task_identified(self, task_id: str) -> None: ...

    def task_failed(self, result: RecognitionResult) -> None: ...

    def result_delivered(self, result: RecognitionResult) -> None: ...


def error_result(error: FunAsrError, task_id: str, sentences: list[dict[str, Any]] | None = None) -> RecognitionResult:
    """The result reporting ``error`` (see :func:`~.errors.describe` for the mapping)."""
    status, code, message = describe(error)
    return RecognitionResult(status_code=status, request_id=task_id, code=code, message=message, sentence=sentences)


def sentence_result(sentence: Sentence, usage: dict[str, Any] | None, task_id: str) -> RecognitionResult:
    wire = sentence.to_wire()
    usages = [{"end_time": wire["end_time"], "usage": usage}] if usage is not None else None
    return RecognitionResult(request_id=task_id, sentence=wire, usages=usages)


class CallbackSink:
    """Delivers a streaming task to a :class:`RecognitionCallback` on its own callback thread.

    ``settled`` is set once ``on_open`` returned (or, if the task could not start, once
    ``on_close`` did); ``finished`` once ``on_close`` returned.
    """

    def __init__(self, owner: TaskOwner, callback: RecognitionCallback) -> None:
        self._owner = owner
        self._callback = callback
        self._task_id = ""
        self.thread = CallbackThread()
        self.settled = threading.Event()
        self.finished = threading.Event()

    def opened(self, task_id: str) -> None:
        self._task_id = task_id
        self._owner.task_identified(task_id)
        self.thread.post(self._callback.on_open)
        self.thread.post(self.settled.set)

    def sentence(self, sentence: Sentence, usage: dict[str, Any] | None) -> None:
        result = sentence_result(sentence, usage, self._task_id)
        self._owner.result_delivered(result)
        self.thread.post(self._callback.on_event, result)

    def completed(self) -> None:
        self.thread.post(self._callback.on_complete)

    def failed(self, error: FunAsrError, task_id: str) -> None:
        result = error_result(error, task_id)
        self._owner.task_failed(result)
        self.thread.post(self._callback.on_error, result)

    def closed(self) -> None:
        self.thread.post(self._callback.on_close)
        self.thread.post(self.finished.set)
        self.thread.post(self.settled.set)
        self.thread.close()


class Collector:
    """Gathers a ``call()``: final sentences and their usage, or the error."""

    def __init__(self, owner: TaskOwner) -> None:
        self._owner = owner
        self.task_id = ""
        self.finals: list[dict[str, Any]] = []
        self.usages: list[dict[str, Any]] = []
        self.error: FunAsrError | None = None
        self.settled = threading.Event()
        self.finished = threading.Event()

    def opened(self, task_id: str) -> None:
        self.task_id = task_id
        self._owner.task_identified(task_id)
        self.settled.set()

    def sentence(self, sentence: Sentence, usage: dict[str, Any] | None) -> None:
        if not sentence.is_final:
            return
        wire = sentence.to_wire()
        self.finals.append(wire)
        if usage is not None:
            self.usages.append({"end_time": wire["end_time"], "usage": usage})

    def completed(self) -> None:
        """Nothing to do: :meth:`result` is read once ``finished`` is set."""

    def failed(self, error: FunAsrError, task_id: str) -> None:
        self.error = error
        self.task_id = task_id or self.task_id
        if task_id:
            self._owner.task_identified(task_id)

    def closed(self) -> None:
        self.settled.set()
        self.finished.set()

    def result(self) -> RecognitionResult:
        """The whole call: finals (also those before a failure) and the status."""
        if self.error is not None:
            return error_result(self.error, self.task_id, self.finals)
        return RecognitionResult(request_id=self.task_id, sentence=self.finals, usages=self.usages)
