"""The segments of a stream: one task's stretch of audio each, and their state table.

A stream sends its audio to a sequence of tasks. The stretch that goes to one task is a
*segment*: it opens with the first audio after a finalize (or at the start), and it is
*closed* by :meth:`~funasr_realtime.client.RecognitionStream.finalize`, ``finish`` or an
idle finish, which fixes its end. A transient failure does not end a segment: a new task
(an *attempt*) replays the audio no final covered. Rule: every state change of a segment
goes through :data:`SEGMENT_TRANSITIONS`, and a trigger the table does not allow raises
:class:`LocalProtocolError` naming the state (it is always this side's bug).

An open segment (``STARTING``, ``FEEDING``, ``DIRECT``, ``RECOVERING``) accepts audio.
``FEEDING`` means the stream's feeder sends buffered audio to the task; ``DIRECT`` means
the feeder has caught up and new audio is written straight to the task, with no await.
A failure sends an open segment to ``RECOVERING`` (a closed one stays ``CLOSING``) until
the next task starts. ``DONE`` from ``FEEDING``/``DIRECT`` means the service ended the task
on its own. The diagram is drawn from the table by :func:`~.states.mermaid` (a test fails
when they drift):

.. BEGIN GENERATED: segment states
::

    stateDiagram-v2
        [*] --> STARTING
        STARTING --> FEEDING: start a task
        RECOVERING --> FEEDING: start a task
        CLOSING --> CLOSING: start a task, retry
        FEEDING --> DIRECT: write directly
        DIRECT --> FEEDING: buffer audio
        STARTING --> CLOSING: close
        FEEDING --> CLOSING: close
        DIRECT --> CLOSING: close
        RECOVERING --> CLOSING: close
        STARTING --> RECOVERING: retry
        FEEDING --> RECOVERING: retry
        DIRECT --> RECOVERING: retry
        RECOVERING --> RECOVERING: retry
        FEEDING --> DONE: complete
        DIRECT --> DONE: complete
        CLOSING --> DONE: complete
        STARTING --> FAILED: give up
        FEEDING --> FAILED: give up
        DIRECT --> FAILED: give up
        RECOVERING --> FAILED: give up
        CLOSING --> FAILED: give up
        STARTING --> ABORTED: abort
        FEEDING --> ABORTED: abort
        DIRECT --> ABORTED: abort
        RECOVERING --> ABORTED: abort
        CLOSING --> ABORTED: abort

.. END GENERATED: segment states
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from .budget import RetryBudget
from .errors import FunAsrError
from .states import StateMachine

__all__ = ["SEGMENT_TRANSITIONS", "CloseReason", "Segment", "SegmentState", "SegmentTrigger"]


class SegmentState(enum.Enum):
    STARTING = "starting"  # open; its first task is starting (audio waits in the replay buffer)
    FEEDING = "feeding"  # open; a task runs and the feeder sends it the buffered audio
    DIRECT = "direct"  # open; the task has caught up: audio is written straight to it
    RECOVERING = "recovering"  # open; an attempt failed, the next one replays
    CLOSING = "closing"  # closed: the rest of its audio, then finish-task, on whichever task runs
    DONE = "done"  # its task completed; every final was delivered
    FAILED = "failed"  # it gave up: the stream's error
    ABORTED = "aborted"  # the application aborted the stream


class SegmentTrigger(enum.Enum):
    TASK_STARTED = "start a task"
    CAUGHT_UP = "write directly"
    BACKED_UP = "buffer audio"
    CLOSE = "close"
    FAIL = "retry"
    COMPLETE = "complete"
    GIVE_UP = "give up"
    ABORT = "abort"


class CloseReason(enum.Enum):
    """Why a segment was closed; finalize and finish are requests that get an id."""

    FINALIZE = "finalize"
    FINISH = "finish"
    IDLE = "idle"


_G, _GT = SegmentState, SegmentTrigger

#: The states in which a segment accepts audio (it is the stream's current segment).
_OPEN = (_G.STARTING, _G.FEEDING, _G.DIRECT, _G.RECOVERING)  # a tuple: the table's order is stable
_LIVE = (*_OPEN, _G.CLOSING)

SEGMENT_TRANSITIONS: Mapping[tuple[SegmentState, SegmentTrigger], SegmentState] = {
    (_G.STARTING, _GT.TASK_STARTED): _G.FEEDING,
    (_G.RECOVERING, _GT.TASK_STARTED): _G.FEEDING,
    (_G.CLOSING, _GT.TASK_STARTED): _G.CLOSING,
    (_G.FEEDING, _GT.CAUGHT_UP): _G.DIRECT,
    (_G.DIRECT, _GT.BACKED_UP): _G.FEEDING,
    **{(state, _GT.CLOSE): _G.CLOSING for state in _OPEN},
    **{(state, _GT.FAIL): _G.RECOVERING for state in _OPEN},
    (_G.CLOSING, _GT.FAIL): _G.CLOSING,
    **{(state, _GT.COMPLETE): _G.DONE for state in (_G.FEEDING, _G.DIRECT, _G.CLOSING)},
    **{(state, _GT.GIVE_UP): _G.FAILED for state in _LIVE},
    **{(state, _GT.ABORT): _G.ABORTED for state in _LIVE},
}


class Segment:
    """One task's stretch of the stream, by byte position, and its supervision state.

    ``start``/``end`` bound it on the stream (``end`` is None while it is open);
    ``offset`` is where the current attempt's audio begins; ``sent`` is how far audio was
    handed to that attempt; ``acked`` is how far its delivered finals cover. Invariant:
    ``start <= acked <= sent`` and ``offset <= sent``. Change them through
    :class:`~funasr_realtime.protocol.stream.StreamCore`, which owns the audio.
    """

    __slots__ = (
        "_machine",
        "acked",
        "end",
        "failure",
        "finish_cap",
        "index",
        "offset",
        "progressed",
        "request_id",
        "retry",
        "sent",
        "start",
        "state",
    )

    def __init__(self, index: int, start: int, retry: RetryBudget) -> None:
        self.index = index  # 0, 1, 2... in stream order
        self.start = start
        self.end: int | None = None
        self.offset = self.sent = self.acked = start
        self.progressed = False  # the current attempt delivered a final (resets the retry budget)
        self.request_id: int | None = None  # the finalize/finish request that closed it (None: idle or open)
        self.failure: tuple[FunAsrError, float] | None = None  # what the next attempt recovers from
        self.finish_cap: float | None = None  # latest time the wait after finish-task may reach
        self.retry = retry
        self._machine = StateMachine(SEGMENT_TRANSITIONS, _G.STARTING, remote=frozenset(), failed=None, role="segment")
        #: The machine's state, kept as a plain attribute: the driver reads it for every chunk.
        self.state = _G.STARTING

    def fire(self, trigger: SegmentTrigger) -> SegmentState:
        """Apply ``trigger``; raises :class:`LocalProtocolError` if the table does not allow it."""
        self.state = self._machine.fire(trigger)
        return self.state

    def allows(self, trigger: SegmentTrigger) -> bool:
        return self._machine.allows(trigger)

    def wrote(self, size: int) -> None:
        """The driver wrote ``size`` bytes straight to the task (state ``DIRECT``)."""
        self.sent += size

    def __repr__(self) -> str:
        return f"Segment({self.index}, {self.state.value}, start={self.start}, end={self.end}, acked={self.acked})"
