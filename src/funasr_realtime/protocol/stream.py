"""The sans-I/O core of a recognition stream: every decision a stream makes, with no I/O.

A stream is one audio timeline carried by a sequence of tasks (see
:mod:`~funasr_realtime.protocol.segments`). :class:`StreamCore` owns the stream's audio
(the :class:`ReplayBuffer`, by byte position) and its ledger of segments, and decides:

* **where audio goes**: each segment's byte range, what was sent to its task and what its
  delivered finals cover (``acked``); audio is released once no live segment needs it;
* **what to replay** after a failure: a new task starts right after the last delivered
  final, so a new task only hears audio no final covered and no final is delivered twice;
  audio the buffer no longer holds is reported dropped, and audio lost under a running
  task is sent as silence, so the task's times stay on the stream timeline;
* **when to retry** (:class:`~funasr_realtime.protocol.budget.RetryBudget`);
* **pacing**: a producer may run ``max_lead`` seconds ahead of the position the server
  reported recognizing, and may never fill the buffer on a healthy connection, but it is
  never held below real time (the floor is computed from when it first ran over budget);
* **idle finish**: an open task that got no audio for ``idle_finish`` seconds is finished;
* **the wait after finish-task**: ``stop`` seconds from the last message, never past
  ``stop`` plus the duration of the audio still unrecognized;
* **resuming**: the audio no delivered final covers, with its stream offset, for a new
  stream (:meth:`StreamCore.resume_point`).

Time is passed in (``now``: any monotonic clock in seconds); nothing here awaits or reads
a clock. The driver (:class:`funasr_realtime.client.RecognitionStream`) runs the tasks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .budget import RetryBudget, RetryPolicy
from .classify import ErrorKind, classify
from .errors import FunAsrError, LocalProtocolError
from .params import RecognitionParams
from .replay import ReplayBuffer
from .segments import CloseReason, Segment, SegmentState, SegmentTrigger
from .timeline import Timeline

__all__ = ["FinalizeRequest", "Restart", "ResumePoint", "StreamCore", "TaskEnd", "wire_params"]

_DONE = SegmentState.DONE


@dataclass(frozen=True, slots=True)
class FinalizeRequest:
    """A finalize that closed a task: the :class:`TaskCompleted` with this ``request_id`` answers it."""

    request_id: int


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Audio of a stream that no delivered final covers, and where it sits on its timeline.

    ``audio`` is s16le mono PCM at ``sample_rate``, starting at stream time ``offset_ms``.
    Pass it to ``Client.stream(resume_from=...)``: the new stream's timeline starts at
    ``offset_ms`` and this audio is sent first, so its sentence times continue the old ones.
    """

    offset_ms: int
    audio: bytes
    sample_rate: int

    def __post_init__(self) -> None:
        if self.offset_ms < 0 or self.sample_rate <= 0:
            raise LocalProtocolError(f"invalid resume point: offset {self.offset_ms} ms at {self.sample_rate} Hz")
        if len(self.audio) % 2:
            raise LocalProtocolError(f"a resume point holds whole 16-bit samples; got {len(self.audio)} bytes")

    @property
    def duration_ms(self) -> int:
        return round(len(self.audio) * 1000 / (2 * self.sample_rate))


@dataclass(frozen=True, slots=True)
class Restart:
    """A retry's task started: what it replays and what could not be (a ``Reconnected`` event)."""

    error: FunAsrError
    attempt: int
    replayed_ms: int
    dropped_ms: int
    downtime_ms: float


@dataclass(frozen=True, slots=True)
class TaskEnd:
    """A segment's task completed. ``reopened`` is the segment opened for audio that arrived
    after the service ended the task on its own (the driver must run it)."""

    end_ms: int
    request_id: int | None
    finalized: bool
    reopened: Segment | None


def wire_params(params: RecognitionParams) -> RecognitionParams:
    """What a task asks for: PCM (the driver converts containers), and heartbeats unless refused.

    Heartbeats report the server's position through silence, which paces a fast producer
    and proves a silent task alive; they are never delivered.
    """
    heartbeat = True if params.heartbeat is None else params.heartbeat
    if params.format == "pcm" and params.heartbeat is heartbeat:
        return params
    return params.replace(format="pcm", heartbeat=heartbeat)


class StreamCore:
    """The ledger and the policy of one stream. Positions are stream bytes; see the module doc."""

    def __init__(
        self,
        sample_rate: int,
        *,
        replay_seconds: float,
        max_lead: float,
        idle_finish: float,
        stop: float,
        retry: RetryPolicy,
        now: float,
        resume_from: ResumePoint | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.timeline = Timeline(sample_rate)
        self._bytes_per_s = sample_rate * 2
        self._replay_limit = max(int(replay_seconds * self._bytes_per_s) & ~1, 2)
        self._lead_bytes = max(int(max_lead * self._bytes_per_s), 2)
        self._idle_finish = idle_finish
        self._stop = stop
        self._retry = retry
        self._rng = rng
        self.replay = ReplayBuffer(self._replay_limit)
        origin = 0
        if resume_from is not None:
            if resume_from.sample_rate != sample_rate:
                raise LocalProtocolError(
                    f"cannot resume {resume_from.sample_rate} Hz audio in a {sample_rate} Hz stream"
                )
            origin = self.timeline.bytes_at(resume_from.offset_ms)
        self.replay.start = origin
        self.recognized = origin  # stream position up to which the server reported results
        self.segments: list[Segment] = []  # live segments (and failed or aborted ones), in order
        self.current: Segment | None = None  # the open segment, which accepts audio
        # While no segment is open, the audio from here on belongs to none yet: the next one starts here.
        self._next_start = origin
        self.input_closed = False
        self.holding = False  # the producer is waiting in pacing (it is not idle)
        self._last_audio = now
        self._pace_origin: tuple[float, int] | None = None  # (time, position) the producer went over budget
        self._count = self._requests = 0
        if resume_from is not None and resume_from.audio:
            self.replay.append(resume_from.audio)

    # ------------------------------------------------------------------ positions

    @property
    def audio_ms(self) -> int:
        """Stream time at the end of all audio handed in."""
        return self.timeline.ms(self.replay.end)

    @property
    def lead(self) -> int:
        """Bytes of audio handed in beyond the position the server reported recognizing."""
        return self.replay.end - self.recognized

    @property
    def needs_segment(self) -> bool:
        """Audio (a resumed stream's) belongs to no segment yet: open one for it."""
        return self.current is None and self.replay.end > self._next_start and not self.input_closed

    # ------------------------------------------------------------------ audio in, segments

    def open(self) -> Segment:
        """Open the segment that takes the next audio (where the previous one ended)."""
        if self.current is not None or self.input_closed:
            raise LocalProtocolError("cannot open a segment: " + ("one is open" if self.current else "input closed"))
        segment = Segment(self._count, self._next_start, RetryBudget(self._retry, rng=self._rng))
        self._count += 1
        self.segments = [s for s in self.segments if s.state is not _DONE] + [segment]
        self.current = segment
        return segment

    def append(self, audio: bytes, now: float) -> Segment:
        """Buffer audio for the current segment (:meth:`open` one first) and return it.

        When the segment is ``DIRECT`` the driver may write the audio straight to the task
        and call :meth:`Segment.wrote`; otherwise it calls :meth:`backed_up` and lets the
        feeder :meth:`take` it.
        """
        segment = self.current
        if segment is None:
            raise LocalProtocolError("cannot append audio: no segment is open")
        self.replay.append(audio)
        self._last_audio = now
        return segment

    def backed_up(self, segment: Segment) -> None:
        """Audio could not be written straight to the task: the feeder takes over."""
        if segment.state is SegmentState.DIRECT:
            segment.fire(SegmentTrigger.BACKED_UP)

    def take(self, segment: Segment) -> tuple[bytes, int]:
        """The segment's audio its task was not sent yet (now counted as sent).

        Returns ``(audio, lost)``: bytes the buffer no longer held are sent as ``lost`` bytes
        of silence, so the task's later times stay on the stream timeline. ``b""`` when
        the task has everything.
        """
        target = segment.end if segment.end is not None else self.replay.end
        if segment.sent >= target:
            return b"", 0
        data, lost = self.replay.read(segment.sent, target)
        segment.sent = target
        return (bytes(lost) + data if lost else data), lost

    def caught_up(self, segment: Segment) -> bool:
        """The feeder sent everything: True if finish-task is due (the segment is closed);
        otherwise the segment goes ``DIRECT``."""
        if segment.state is SegmentState.CLOSING:
            return True
        segment.fire(SegmentTrigger.CAUGHT_UP)
        return False

    def close(self, reason: CloseReason) -> Segment | None:
        """Close the current segment: its end is fixed, its task gets finish-task after the rest.

        Returns the closed segment (None when none is open: nothing was sent since the last
        close). A finalize or finish gets a ``request_id``; an idle finish does not. Closing
        for ``FINISH`` also ends the input, whether or not a segment was open.
        """
        if reason is CloseReason.FINISH:
            self.input_closed = True
        segment = self.current
        if segment is None:
            return None
        segment.fire(SegmentTrigger.CLOSE)
        self.current = None
        segment.end = self._next_start = self.replay.end
        if reason is not CloseReason.IDLE:
            self._requests += 1
            segment.request_id = self._requests
        return segment

    def finish(self) -> Segment | None:
        """End of input: no more audio; close the current segment (``close(CloseReason.FINISH)``)."""
        return self.close(CloseReason.FINISH)

    def abort(self) -> None:
        """The application aborted: every live segment is over, their audio stays for resuming."""
        self.input_closed = True
        if self.current is not None:
            self.current, self._next_start = None, self.replay.end
        for segment in self.segments:
            if segment.allows(SegmentTrigger.ABORT):
                segment.fire(SegmentTrigger.ABORT)

    # ------------------------------------------------------------------ attempts

    def begin_attempt(self, segment: Segment, now: float) -> None:
        """An attempt starts (before it gets a connection)."""
        segment.retry.attempt_started(now)

    def attempt_offset(self, segment: Segment) -> int:
        """Stream ms where the attempt's audio begins: the segment's start, or on a retry
        right after the last delivered final (or the oldest audio still held, never past
        the segment's end: later segments' audio may have pushed all of its own out)."""
        offset = segment.start
        if segment.failure is not None:
            offset = max(segment.acked, self.replay.start)
            offset = offset if segment.end is None else min(offset, segment.end)
        segment.offset = offset
        return self.timeline.ms(offset)

    def task_started(self, segment: Segment, now: float) -> Restart | None:
        """The attempt's task started: the feeder sends from its offset. A retry says what it replays."""
        segment.fire(SegmentTrigger.TASK_STARTED)
        segment.sent = segment.offset
        segment.finish_cap = None
        failure, segment.failure = segment.failure, None
        if failure is None:
            return None
        end = segment.end if segment.end is not None else self.replay.end
        ms = self.timeline.ms
        dropped = segment.offset - segment.acked
        return Restart(
            failure[0], segment.retry.failures, ms(end - segment.offset), ms(dropped), (now - failure[1]) * 1000
        )

    def final(self, segment: Segment, end_ms: int) -> None:
        """A final sentence ending at stream ``end_ms`` was delivered: the audio before it is covered."""
        position = min(self.timeline.bytes_at(end_ms), segment.sent)  # a final cannot cover unsent audio
        segment.acked = max(segment.acked, position)
        segment.progressed = True
        self._release()

    def reported(self, segment: Segment, stream_ms: int) -> bool:
        """The server reported its position (stream ms): True if the recognized position moved."""
        position = min(self.timeline.bytes_at(stream_ms), segment.sent)  # it cannot recognize what it was not sent
        if position <= self.recognized:
            return False
        self.recognized = position
        return True

    def attempt_failed(self, segment: Segment, error: FunAsrError, now: float) -> float | None:
        """The attempt failed: the backoff before the next one, or None (the segment gave up)."""
        progressed, segment.progressed = segment.progressed, False
        delay = segment.retry.failed(error, now, progressed=progressed)
        if delay is None:
            self.give_up(segment)
            return None
        segment.fire(SegmentTrigger.FAIL)
        segment.failure = (error, now)
        return delay

    def heard_nothing(self, segment: Segment, error: FunAsrError) -> bool:
        """Whether ``error`` ends the segment's task as one that heard nothing (no final).

        True for the service's "no speech" (``NO_INPUT_AUDIO_ERROR``) once the segment is
        closed and all its audio was sent: nothing is lost, and replaying the same audio
        would only fail (and bill) again. :meth:`complete` follows. Elsewhere the failure
        stands, and as a permanent kind it ends the stream.
        """
        closed_and_sent = segment.end is not None and segment.sent >= segment.end
        return closed_and_sent and classify(error) is ErrorKind.NO_SPEECH

    def give_up(self, segment: Segment) -> None:
        """The segment ends the stream with an error; its audio stays for resuming."""
        if segment.allows(SegmentTrigger.GIVE_UP):
            segment.fire(SegmentTrigger.GIVE_UP)
        if segment is self.current:
            self.current, self._next_start = None, self.replay.end

    def complete(self, segment: Segment) -> TaskEnd:
        """The segment's task completed: everything up to its end is covered."""
        segment.fire(SegmentTrigger.COMPLETE)
        end = segment.sent if segment.end is None else segment.end
        segment.end = segment.acked = end
        self.recognized = max(self.recognized, end)
        reopened = None
        if segment is self.current:
            # The service ended the task on its own. Audio after it still needs a task; a
            # segment we closed never reopens (later segments own later audio).
            self.current, self._next_start = None, end
            if not self.input_closed and self.replay.end > end:
                reopened = self.open()
        self._release()
        finalized = segment.request_id is not None  # closed by a finalize or finish (not idle, not the service)
        return TaskEnd(self.timeline.ms(end), segment.request_id, finalized, reopened)

    def _needed_from(self) -> int:
        """The oldest stream position still needed: by a live segment, or by the next one."""
        held = [s.acked for s in self.segments if s.state is not _DONE]
        if self.current is None:
            held.append(self._next_start)
        return min(held, default=self.replay.end)

    def _release(self) -> None:
        self.replay.release(self._needed_from())

    # ------------------------------------------------------------------ deadlines

    def arm_finish(self, segment: Segment, now: float) -> float:
        """finish-task was sent: the deadline for task-finished (see :meth:`finish_deadline`)."""
        end = segment.end if segment.end is not None else segment.sent
        uncovered = max(0, end - max(segment.acked, self.recognized))
        segment.finish_cap = now + self._stop + uncovered / self._bytes_per_s
        return min(now + self._stop, segment.finish_cap)

    def finish_deadline(self, segment: Segment, now: float) -> float | None:
        """``stop`` from now (each message extends the wait), never past the cap; None before finish-task."""
        cap = segment.finish_cap
        return None if cap is None else min(now + self._stop, cap)

    def idle_wait(self, now: float) -> float | None:
        """Seconds until the open task counts as idle (<= 0: finish it now); None: nothing to watch."""
        if self.current is None or self.input_closed or self._idle_finish <= 0:
            return None
        quiet = 0.0 if self.holding else now - self._last_audio
        return self._idle_finish - quiet

    # ------------------------------------------------------------------ pacing

    def admit(self, size: int) -> bool:
        """Whether ``size`` more bytes fit the budget now (the real-time floor then starts over)."""
        if self.over_budget(size):
            return False
        self._pace_origin = None
        return True

    def over_budget(self, size: int) -> bool:
        """Whether ``size`` more bytes would run too far ahead of the results or fill the buffer."""
        end = self.replay.end + size
        return end - self.recognized > self._lead_bytes or len(self.replay) + size > self._replay_limit

    def hold(self, size: int, now: float) -> float:
        """The producer waits for ``size`` bytes to fit: the time it may go anyway (real time).

        From the moment a producer first runs over budget it may still hand in audio as fast
        as real time: a live source is never slowed, and a server that reports nothing
        cannot stall a file forever.
        """
        if self._pace_origin is None:
            self._pace_origin = (now, self.replay.end)
        at, position = self._pace_origin
        self.holding = True
        return at + (self.replay.end + size - position) / self._bytes_per_s

    def unhold(self, now: float, *, at_floor: bool) -> None:
        """The producer goes on: within budget (the floor starts over) or ``at_floor`` (it continues)."""
        self.holding = False
        self._last_audio = now
        if not at_floor:
            self._pace_origin = None

    # ------------------------------------------------------------------ resuming

    def resume_point(self) -> ResumePoint:
        """The audio no delivered final covers (from the oldest still held), for a new stream."""
        start = max(self._needed_from(), self.replay.start)
        audio, _ = self.replay.read(start, self.replay.end)
        return ResumePoint(self.timeline.ms(start), audio, self.sample_rate)
