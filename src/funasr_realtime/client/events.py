"""What iterating a :class:`~funasr_realtime.client.RecognitionStream` yields."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import FunAsrError, Sentence, Usage
from .connection import TaskMetrics

__all__ = ["Reconnected", "SentenceEvent", "StreamEvent", "TaskCompleted"]


@dataclass(frozen=True, slots=True)
class SentenceEvent:
    """A partial or final sentence; its times are stream milliseconds.

    ``usage`` is what the service sent with it: on finals, ``usage.duration`` is the task's
    billed seconds so far (None on partials).
    """

    sentence: Sentence
    task_id: str
    usage: Usage | None = None

    @property
    def is_final(self) -> bool:
        return self.sentence.is_final


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    """A task is over and all its sentences were delivered.

    ``finalized`` is True when the task was ended by :meth:`RecognitionStream.finalize` or
    :meth:`RecognitionStream.finish` (its last final is the answer to that request), False
    when the stream ended it because no audio came for ``Resilience.idle_finish`` seconds,
    or the service ended it on its own. ``request_id`` is then the id of that request (the
    :class:`FinalizeRequest` ``finalize()`` returned), None otherwise. ``end_ms`` is where
    the task's audio ends on the stream timeline: the next task starts there.
    """

    metrics: TaskMetrics
    finalized: bool
    request_id: int | None = None
    end_ms: int = 0


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The stream recovered from a transient failure by replaying audio into a new task.

    ``dropped_ms`` is audio that could not be replayed because the outage outlasted the
    replay buffer: 0 means nothing was lost. ``billed_seconds`` is what the service reported
    for the failed attempt (it is included in :attr:`RecognitionStream.billed_seconds`).
    """

    error: FunAsrError
    attempt: int
    replayed_ms: int
    dropped_ms: int
    downtime_ms: float
    billed_seconds: int = 0


StreamEvent = SentenceEvent | TaskCompleted | Reconnected
