"""The stream core decides everything a stream does, with no loop: each rule, then properties.

The property tests drive a :class:`StreamCore` the way the asyncio driver does, through
random sequences of audio, feeder steps, task starts, finals, position reports, failures,
finalizes, idle finishes and completions, with a simulated server, and check that no byte
is lost (each is acknowledged by a final, replayed, or reported dropped), no final is
delivered twice (a task never hears audio a delivered final covers), and the timeline is
continuous (segments tile the stream, offsets only grow).
"""

from __future__ import annotations

import itertools
import random
import textwrap
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funasr_realtime.protocol import (
    SEGMENT_TRANSITIONS,
    CloseReason,
    ConnectionClosed,
    LocalProtocolError,
    RecognitionParams,
    Restart,
    ResumePoint,
    RetryBudget,
    RetryPolicy,
    Segment,
    SegmentState,
    SegmentTrigger,
    StreamCore,
    TaskFailedError,
    wire_params,
)
from funasr_realtime.protocol import segments as segments_module
from funasr_realtime.protocol.states import mermaid

RATE = 16000
BPMS = RATE * 2 // 1000  # bytes per millisecond
POLICY = RetryPolicy(max_retries=5, max_outage=30.0, backoff_initial=0.1, backoff_max=5.0)
DROP = ConnectionClosed(1006, "gone")
G, T = SegmentState, SegmentTrigger


def core(
    *,
    replay_seconds: float = 20.0,
    max_lead: float = 10.0,
    idle_finish: float = 10.0,
    stop: float = 5.0,
    retry: RetryPolicy = POLICY,
    resume_from: ResumePoint | None = None,
) -> StreamCore:
    return StreamCore(
        RATE,
        replay_seconds=replay_seconds,
        max_lead=max_lead,
        idle_finish=idle_finish,
        stop=stop,
        retry=retry,
        now=0.0,
        resume_from=resume_from,
        rng=random.Random(0),
    )


def pattern(start: int, size: int) -> bytes:
    """Audio whose bytes name their stream position, never zero (silence is recognizable)."""
    return bytes((start + i) % 251 + 1 for i in range(size))


def started(c: StreamCore, now: float = 0.0) -> Segment:
    """Open a segment with 100 ms of audio and start its task."""
    segment = c.open()
    c.append(pattern(0, 100 * BPMS), now)
    c.begin_attempt(segment, now)
    c.attempt_offset(segment)
    assert c.task_started(segment, now) is None
    return segment


# --------------------------------------------------------------------------- the state table


def test_the_docstring_diagram_is_drawn_from_the_table() -> None:
    diagram = textwrap.indent(mermaid(SEGMENT_TRANSITIONS, G.STARTING), "    ")
    assert segments_module.__doc__ is not None and diagram in segments_module.__doc__


@pytest.mark.parametrize("state", list(G), ids=lambda s: s.name)
@pytest.mark.parametrize("trigger", list(T), ids=lambda t: t.name)
def test_every_trigger_the_table_lacks_raises_and_names_the_state(state: SegmentState, trigger: SegmentTrigger) -> None:
    segment = Segment(0, 0, RetryBudget(POLICY))
    segment._machine.state = segment.state = state
    if (state, trigger) in SEGMENT_TRANSITIONS:
        assert segment.fire(trigger) is SEGMENT_TRANSITIONS[state, trigger]
    else:
        with pytest.raises(LocalProtocolError, match=f"segment is {state.value}"):
            segment.fire(trigger)
        assert segment.state is state


def test_terminal_states_have_no_way_out() -> None:
    for state in (G.DONE, G.FAILED, G.ABORTED):
        assert not [t for (s, t) in SEGMENT_TRANSITIONS if s is state]


# --------------------------------------------------------------------------- segments and audio


def test_segments_tile_the_stream_and_finalize_gets_increasing_request_ids() -> None:
    c = core()
    first = c.open()
    c.append(pattern(0, 3200), 0.0)
    assert c.close(CloseReason.FINALIZE) is first and first.request_id == 1
    assert c.close(CloseReason.FINALIZE) is None, "no audio since the last finalize: a no-op"
    second = c.open()
    c.append(pattern(3200, 1600), 0.0)
    assert c.close(CloseReason.IDLE) is second and second.request_id is None, "an idle finish is not a request"
    third = c.open()
    c.append(pattern(4800, 640), 0.0)
    assert c.finish() is third and third.request_id == 2
    assert (first.start, first.end, second.start, second.end, third.start, third.end) == (
        0,
        3200,
        3200,
        4800,
        4800,
        5440,
    )
    with pytest.raises(LocalProtocolError, match="input closed"):
        c.open()


def test_audio_needs_an_open_segment() -> None:
    with pytest.raises(LocalProtocolError, match="no segment is open"):
        core().append(b"\x00\x00", 0.0)
    c = core()
    c.open()
    with pytest.raises(LocalProtocolError, match="one is open"):
        c.open()


def test_the_feeder_catches_up_then_audio_goes_direct_until_a_write_backs_up() -> None:
    c = core()
    segment = started(c)
    assert segment.state is G.FEEDING
    assert c.take(segment) == (pattern(0, 3200), 0)
    assert c.take(segment) == (b"", 0)
    assert c.caught_up(segment) is False and segment.state is G.DIRECT
    c.append(pattern(3200, 320), 0.0)
    segment.wrote(320)  # the driver wrote it straight to the socket
    assert segment.sent == 3520 and c.take(segment) == (b"", 0)
    c.append(pattern(3520, 320), 0.0)
    c.backed_up(segment)  # the socket was busy: the feeder takes over
    assert segment.state is G.FEEDING and c.take(segment) == (pattern(3520, 320), 0)
    c.close(CloseReason.FINALIZE)
    assert segment.state is G.CLOSING and c.caught_up(segment) is True, "closed and sent: finish-task is due"


def test_a_final_covers_audio_up_to_its_end_but_never_audio_not_sent() -> None:
    c = core()
    segment = started(c)
    c.take(segment)
    c.append(pattern(3200, 3200), 0.0)  # buffered, not sent yet
    c.final(segment, 60)
    assert segment.acked == 60 * BPMS and c.replay.start == 60 * BPMS, "covered audio is released"
    c.final(segment, 500)
    assert segment.acked == 3200, "capped at what the task was sent"
    c.final(segment, 10)
    assert segment.acked == 3200, "acknowledgement never goes back"


def test_a_retry_replays_from_the_last_final_and_reports_it() -> None:
    c = core()
    segment = started(c)
    c.take(segment)
    c.final(segment, 40)
    c.append(pattern(3200, 1600), 1.0)
    assert c.attempt_failed(segment, DROP, 2.0) is not None
    assert segment.state is G.RECOVERING
    c.begin_attempt(segment, 2.5)
    assert c.attempt_offset(segment) == 40, "right after the last delivered final"
    restart = c.task_started(segment, 3.0)
    assert restart == Restart(DROP, 1, 110, 0, 1000.0)  # 150 ms held - 40 ms covered
    assert c.take(segment) == (pattern(40 * BPMS, 110 * BPMS), 0)


def test_a_retry_after_the_buffer_overflowed_reports_what_it_cannot_replay() -> None:
    c = core(replay_seconds=0.1)  # 3200 bytes
    segment = started(c)
    c.take(segment)
    c.attempt_failed(segment, DROP, 0.0)
    c.append(pattern(3200, 3200), 0.0)  # 6400 > 3200: the oldest goes
    c.attempt_offset(segment)
    restart = c.task_started(segment, 0.0)
    assert restart is not None and restart.dropped_ms == c.timeline.ms(c.replay.start) > 0
    assert restart.replayed_ms == c.timeline.ms(6400 - c.replay.start)


def test_a_later_segment_retries_from_its_own_final_not_from_an_earlier_segments_audio() -> None:
    c = core()
    first = started(c)
    c.take(first)
    c.close(CloseReason.FINALIZE)  # draining: it holds the buffer from 0
    second = c.open()
    c.append(pattern(3200, 3200), 0.0)
    c.attempt_offset(second)
    c.task_started(second, 0.0)
    c.take(second)
    c.final(second, 150)
    assert c.replay.start == 0 and second.acked == 150 * BPMS
    c.attempt_failed(second, DROP, 0.0)
    assert c.attempt_offset(second) == 150
    restart = c.task_started(second, 0.0)
    assert restart is not None and (restart.replayed_ms, restart.dropped_ms) == (50, 0)


def test_a_retry_never_starts_past_its_segments_end() -> None:
    c = core(replay_seconds=0.1)
    first = started(c)
    c.attempt_failed(first, DROP, 0.0)
    c.close(CloseReason.IDLE)
    c.open()
    c.append(pattern(3200, 3200), 0.0)  # the next segment's audio pushes all of the first one out
    assert first.end is not None and c.replay.start > first.end
    assert c.attempt_offset(first) == 100
    restart = c.task_started(first, 0.0)
    assert restart is not None and (restart.replayed_ms, restart.dropped_ms) == (0, 100)


def test_audio_lost_under_a_running_task_is_sent_as_silence_so_its_times_stay_right() -> None:
    c = core(replay_seconds=0.1)
    segment = started(c)  # 3200 bytes buffered, none sent yet
    c.append(pattern(3200, 3200), 0.0)
    data, lost = c.take(segment)
    assert lost == c.replay.start > 0
    assert data == bytes(lost) + pattern(lost, 6400 - lost) and segment.sent == 6400


def test_completion_covers_the_segment_and_answers_its_request() -> None:
    c = core()
    segment = started(c)
    c.take(segment)
    c.close(CloseReason.FINALIZE)
    end = c.complete(segment)
    assert (end.end_ms, end.request_id, end.finalized, end.reopened) == (100, 1, True, None)
    assert segment.state is G.DONE and segment.acked == segment.end == 3200
    assert len(c.replay) == 0 and c.recognized == 3200


def test_a_task_the_service_ended_reopens_a_segment_for_the_audio_after_it() -> None:
    c = core()
    segment = started(c)
    c.take(segment)
    c.append(pattern(3200, 640), 0.0)  # after what was sent
    end = c.complete(segment)
    assert not end.finalized and end.request_id is None and end.end_ms == 100
    assert end.reopened is not None and end.reopened is c.current
    assert (end.reopened.start, end.reopened.index) == (3200, 1)
    assert c.take(end.reopened) == (pattern(3200, 640), 0)


def test_the_recognized_position_moves_forward_only_over_audio_sent() -> None:
    c = core()
    segment = started(c)
    assert c.reported(segment, 50) is False, "nothing was sent yet"
    c.take(segment)
    assert c.reported(segment, 50) is True and c.recognized == 50 * BPMS
    assert c.reported(segment, 20) is False and c.recognized == 50 * BPMS
    assert c.reported(segment, 900) is True and c.recognized == 3200
    assert c.lead == 0


# --------------------------------------------------------------------------- retry budget


def test_the_budget_gives_up_after_max_retries_failures_in_a_row() -> None:
    budget = RetryBudget(RetryPolicy(3, 1000.0, 0.1, 5.0), rng=random.Random(0))
    delays = []
    for n in range(4):
        budget.attempt_started(float(n))
        delays.append(budget.failed(DROP, float(n), progressed=False))
    assert delays[3] is None and all(d is not None for d in delays[:3])
    assert budget.failures == 4


def test_delays_grow_with_jitter_and_progress_resets_the_count_not_the_delays() -> None:
    budget = RetryBudget(RetryPolicy(2, 1000.0, 0.1, 0.4), rng=random.Random(0))
    first = [budget.failed(DROP, 0.0, progressed=False) for _ in range(2)]
    assert budget.failed(DROP, 0.0, progressed=True) is not None, "progress starts the count over"
    assert budget.failures == 1
    later = budget.failed(DROP, 0.0, progressed=False)
    assert first[0] is not None and first[1] is not None and later is not None
    assert 0.05 <= first[0] <= 0.1 and 0.1 <= first[1] <= 0.2 and 0.2 <= later <= 0.4


def test_an_outage_longer_than_max_outage_gives_up_from_the_first_failed_attempt() -> None:
    budget = RetryBudget(RetryPolicy(1000, 5.0, 0.1, 5.0))
    budget.attempt_started(10.0)
    assert budget.failed(DROP, 12.0, progressed=False) is not None
    assert budget.outage_started == 10.0, "the outage starts when the failing attempt started"
    budget.attempt_started(14.0)
    assert budget.failed(DROP, 15.5, progressed=False) is None, "15.5 - 10 > 5"


def test_permanent_failures_are_never_retried_and_end_the_segment() -> None:
    c = core()
    segment = started(c)
    assert c.attempt_failed(segment, TaskFailedError("InvalidApiKey", "bad key"), 0.0) is None
    assert segment.state is G.FAILED and c.current is None


def test_only_a_final_counts_as_progress() -> None:
    c = core(retry=RetryPolicy(1, 1000.0, 0.01, 0.01))
    segment = started(c)
    c.take(segment)
    assert c.attempt_failed(segment, DROP, 0.0) is not None
    c.attempt_offset(segment)
    c.task_started(segment, 0.0)
    c.take(segment)
    c.final(segment, 20)
    assert c.attempt_failed(segment, DROP, 0.0) is not None, "the attempt delivered a final"
    c.attempt_offset(segment)
    c.task_started(segment, 0.0)
    c.reported(segment, 90)  # a position report is not progress
    assert c.attempt_failed(segment, DROP, 0.0) is None


# --------------------------------------------------------------------------- pacing, idle, deadlines


def test_pacing_holds_a_producer_that_runs_past_the_lead_but_never_below_real_time() -> None:
    c = core(max_lead=0.1)
    c.open()
    assert c.admit(3200)
    c.append(pattern(0, 3200), 0.0)
    assert not c.admit(320) and c.over_budget(320)
    assert c.hold(320, 5.0) == pytest.approx(5.01), "10 ms of audio may go 10 ms later, whatever the results"
    c.unhold(5.01, at_floor=True)
    c.append(pattern(3200, 320), 5.01)
    assert c.hold(320, 5.01) == pytest.approx(5.02), "at the floor, real time continues from the same origin"
    c.unhold(5.02, at_floor=False)
    assert c.hold(320, 9.0) == pytest.approx(9.01), "within budget again, the floor starts over"


def test_a_full_replay_buffer_is_over_budget_on_a_healthy_connection() -> None:
    c = core(replay_seconds=0.1, max_lead=100.0)
    c.open()
    c.append(pattern(0, 3000), 0.0)
    assert c.admit(200) and not c.admit(202)


def test_idle_finish_counts_from_the_last_audio_and_a_held_producer_is_not_idle() -> None:
    c = core(idle_finish=2.0)
    assert c.idle_wait(0.0) is None, "no open task"
    c.open()
    c.append(pattern(0, 320), 1.0)
    assert c.idle_wait(2.5) == pytest.approx(0.5)
    assert c.idle_wait(3.0) == pytest.approx(0.0)
    c.hold(320, 3.0)
    assert c.idle_wait(9.0) == 2.0, "waiting in pacing is not silence"
    c.finish()
    assert c.idle_wait(9.0) is None
    assert core(idle_finish=0).idle_wait(0.0) is None, "0 turns idle finish off"


def test_the_wait_after_finish_task_grows_with_the_audio_not_yet_recognized() -> None:
    c = core(stop=2.0)
    segment = started(c)
    c.take(segment)
    assert c.finish_deadline(segment, 0.0) is None, "finish-task not sent yet"
    c.append(pattern(3200, 3200 * 9), 0.0)
    c.take(segment)
    c.close(CloseReason.FINISH)
    c.reported(segment, 400)  # 0.6 s of the 1 s still unrecognized
    assert c.arm_finish(segment, 10.0) == 12.0
    assert segment.finish_cap == pytest.approx(12.6)
    assert c.finish_deadline(segment, 10.5) == pytest.approx(12.5), "each message: stop from now"
    assert c.finish_deadline(segment, 11.0) == pytest.approx(12.6), "never past the cap"


# --------------------------------------------------------------------------- resuming


def test_a_failed_stream_hands_over_the_audio_no_final_covers() -> None:
    c = core()
    segment = started(c)
    c.take(segment)
    c.final(segment, 30)
    c.append(pattern(3200, 640), 0.0)
    c.attempt_failed(segment, TaskFailedError("InvalidApiKey", "bad key"), 0.0)
    point = c.resume_point()
    assert point == ResumePoint(30, pattern(30 * BPMS, 120 * BPMS - 30 * BPMS), RATE)
    assert point.duration_ms == 90


def test_a_finished_stream_has_nothing_to_resume() -> None:
    c = core()
    segment = started(c)
    c.take(segment)
    c.finish()
    c.complete(segment)
    assert c.resume_point() == ResumePoint(100, b"", RATE)


def test_an_aborted_stream_keeps_every_live_segments_audio() -> None:
    c = core()
    first = started(c)
    c.take(first)
    c.final(first, 50)
    c.close(CloseReason.FINALIZE)
    second = c.open()
    c.append(pattern(3200, 320), 0.0)
    c.abort()
    assert first.state is G.ABORTED and second.state is G.ABORTED and c.current is None
    assert c.resume_point() == ResumePoint(50, pattern(50 * BPMS, 3520 - 50 * BPMS), RATE)


def test_a_resumed_stream_starts_its_timeline_at_the_offset_with_the_audio_first() -> None:
    point = ResumePoint(12_000, pattern(0, 640), RATE)
    c = core(resume_from=point)
    assert c.needs_segment and c.audio_ms == 12_020 and c.lead == 640
    segment = c.open()
    assert segment.start == 12_000 * BPMS and c.attempt_offset(segment) == 12_000
    c.append(pattern(640, 320), 0.0)
    c.task_started(segment, 0.0)
    assert c.take(segment) == (pattern(0, 960), 0)
    assert c.resume_point().offset_ms == 12_000


def test_a_resumed_stream_that_never_started_still_hands_its_audio_on() -> None:
    point = ResumePoint(500, pattern(0, 640), RATE)
    c = core(resume_from=point)
    c.abort()
    assert c.resume_point() == point


def test_resuming_at_another_sample_rate_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="8000 Hz audio in a 16000 Hz stream"):
        core(resume_from=ResumePoint(0, b"\x00\x00", 8000))


@pytest.mark.parametrize(("offset", "audio", "rate"), [(-1, b"", RATE), (0, b"\x00", RATE), (0, b"", 0)])
def test_a_malformed_resume_point_is_refused(offset: int, audio: bytes, rate: int) -> None:
    with pytest.raises(LocalProtocolError):
        ResumePoint(offset, audio, rate)


def test_tasks_ask_for_pcm_and_heartbeats() -> None:
    wired = wire_params(RecognitionParams(format="wav"))
    assert (wired.format, wired.heartbeat) == ("pcm", True)
    refused = RecognitionParams(heartbeat=False)
    assert wire_params(refused).heartbeat is False
    pcm = RecognitionParams(heartbeat=True)
    assert wire_params(pcm) is pcm


# --------------------------------------------------------------------------- properties


@dataclass
class Attempt:
    offset: int  # stream position of its first byte
    acked_at_start: int
    received: bytearray = field(default_factory=bytearray)
    silence: list[tuple[int, int]] = field(default_factory=list)  # stream ranges sent as silence
    finish_sent: bool = False


@dataclass
class Ledger:
    """What the simulated driver and server saw, to check the core against."""

    stream: bytearray = field(default_factory=bytearray)
    segments: list[Segment] = field(default_factory=list)
    attempts: dict[int, list[Attempt]] = field(default_factory=dict)
    running: dict[int, Attempt] = field(default_factory=dict)
    dropped: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # reported by Restart
    requests: dict[int, int | None] = field(default_factory=dict)  # segment index -> request id at close
    ends: dict[int, tuple[int, int | None, bool]] = field(default_factory=dict)
    finals: dict[int, list[int]] = field(default_factory=dict)
    now: float = 0.0


class Sim:
    """Drives a StreamCore as the asyncio driver does, with a server that hears what it is sent."""

    def __init__(self, c: StreamCore) -> None:
        self.core = c
        self.log = Ledger()

    def _register(self, segment: Segment) -> None:
        self.log.segments.append(segment)
        self.log.attempts[segment.index] = []
        self.log.dropped[segment.index] = []
        self.log.finals[segment.index] = []

    def _pick(self, states: tuple[SegmentState, ...], k: int, *, running: bool) -> Segment | None:
        found = [s for s in self.log.segments if s.state in states and (s.index in self.log.running) == running]
        return found[k % len(found)] if found else None

    def audio(self, ms: int, writable: bool) -> None:
        c = self.core
        if c.input_closed:
            return
        if c.current is None:
            self._register(c.open())
        chunk = pattern(len(self.log.stream), ms * BPMS)
        self.log.stream += chunk
        segment = c.append(chunk, self.log.now)
        attempt = self.log.running.get(segment.index)
        if segment.state is G.DIRECT and attempt is not None and writable:
            attempt.received += chunk
            segment.wrote(len(chunk))
        else:
            c.backed_up(segment)

    def feed(self, k: int) -> None:
        segment = self._pick((G.FEEDING, G.CLOSING), k, running=True)
        if segment is None or self.log.running[segment.index].finish_sent:
            return
        attempt = self.log.running[segment.index]
        while True:
            before = segment.sent
            data, lost = self.core.take(segment)
            if not data:
                break
            assert before == attempt.offset + len(attempt.received), "audio goes out in order, no gap"
            attempt.received += data
            if lost:
                attempt.silence.append((before, before + lost))
        attempt.finish_sent = self.core.caught_up(segment)

    def start(self, k: int, *, fail: bool = False) -> None:
        segment = self._pick((G.STARTING, G.RECOVERING, G.CLOSING), k, running=False)
        if segment is None:
            return
        c = self.core
        c.begin_attempt(segment, self.log.now)
        offset_ms = c.attempt_offset(segment)
        assert offset_ms == c.timeline.ms(segment.offset)
        if fail:  # the connect or the task start failed: no task ran
            c.attempt_failed(segment, DROP, self.log.now)
            return
        acked = segment.acked
        restart = c.task_started(segment, self.log.now)
        assert segment.offset >= acked, "a task never hears audio a delivered final covers"
        if restart is not None:
            assert restart.dropped_ms == c.timeline.ms(segment.offset - acked)
            self.log.dropped[segment.index].append((acked, segment.offset))
        attempt = Attempt(segment.offset, acked)
        self.log.attempts[segment.index].append(attempt)
        self.log.running[segment.index] = attempt

    def final(self, k: int, fraction: float) -> None:
        segment = self._pick((G.FEEDING, G.DIRECT, G.CLOSING), k, running=True)
        if segment is None:
            return
        attempt = self.log.running[segment.index]
        heard_ms = len(attempt.received) // BPMS
        task_ms = round(heard_ms * fraction)
        self.core.final(segment, self.core.timeline.ms(attempt.offset) + task_ms)
        self.log.finals[segment.index].append(segment.acked)

    def report(self, k: int, fraction: float) -> None:
        segment = self._pick((G.FEEDING, G.DIRECT, G.CLOSING), k, running=True)
        if segment is not None:
            attempt = self.log.running[segment.index]
            heard_ms = round(len(attempt.received) // BPMS * fraction)
            self.core.reported(segment, self.core.timeline.ms(attempt.offset) + heard_ms)

    def fail(self, k: int) -> None:
        segment = self._pick((G.FEEDING, G.DIRECT, G.CLOSING), k, running=True)
        if segment is not None:
            del self.log.running[segment.index]
            assert self.core.attempt_failed(segment, DROP, self.log.now) is not None

    def close(self, reason: CloseReason) -> None:
        segment = self.core.close(reason)
        if segment is not None:
            self.log.requests[segment.index] = segment.request_id

    def idle(self, seconds: float) -> None:
        self.log.now += seconds
        wait = self.core.idle_wait(self.log.now)
        if wait is not None and wait <= 0:
            self.close(CloseReason.IDLE)

    def complete(self, k: int) -> None:
        """The server ends the task: after finish-task, or on its own while streaming."""
        segment = self._pick((G.FEEDING, G.DIRECT, G.CLOSING), k, running=True)
        if segment is None:
            return
        if segment.state is G.CLOSING and not self.log.running[segment.index].finish_sent:
            return
        del self.log.running[segment.index]
        end = self.core.complete(segment)
        self.log.ends[segment.index] = (end.end_ms, end.request_id, end.finalized)
        if end.reopened is not None:
            self._register(end.reopened)

    def drain(self) -> None:
        """finish(), then run every segment to completion."""
        self.close(CloseReason.FINISH)
        for _ in range(10_000):
            live = [s for s in self.log.segments if s.state is not G.DONE]
            if not live:
                return
            if any(s.index not in self.log.running for s in live):
                self.start(0)
            else:
                self.feed(0)
                self.complete(0)
        raise AssertionError("the stream did not drain")

    def check_bounds(self) -> None:
        c = self.core
        assert len(c.replay) <= c._replay_limit and c.replay.end == len(self.log.stream)
        for segment in self.log.segments:
            assert segment.start <= segment.acked
            attempt = self.log.running.get(segment.index)
            if attempt is not None:
                assert segment.sent == attempt.offset + len(attempt.received)
                assert segment.acked <= segment.sent, "a final never covers audio its task was not sent"


# Steps are weighted so that random runs reach deep states: many segments in flight,
# retries after finals, overflows of a small buffer under a running or a recovering task.
_WEIGHTS = {
    "audio": 30,
    "feed": 14,
    "start": 12,
    "final": 12,
    "fail": 7,
    "finalize": 6,
    "complete": 6,
    "report": 4,
    "fail_start": 3,
    "idle": 6,
}
_NAMES = [name for name, weight in _WEIGHTS.items() for _ in range(weight)]
STEP = st.tuples(st.sampled_from(_NAMES), st.integers(0, 40), st.floats(0, 1), st.booleans())
ENDLESS = RetryPolicy(max_retries=10**6, max_outage=1e9, backoff_initial=0.1, backoff_max=5.0)


def run_steps(sim: Sim, steps: list[tuple[str, int, float, bool]]) -> None:
    for name, number, fraction, flag in steps:
        if name == "audio":
            sim.audio(number + 1, flag)
        elif name in ("final", "report"):
            getattr(sim, name)(number, fraction)
        elif name == "fail_start":
            sim.start(number, fail=True)
        elif name == "finalize":
            sim.close(CloseReason.FINALIZE)
        elif name == "idle":
            sim.idle(fraction * 3)
        else:
            getattr(sim, name)(number)
        sim.check_bounds()


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(st.lists(STEP, min_size=10, max_size=150), st.sampled_from([0.064, 0.256, 20.0]))
def test_no_byte_lost_no_final_twice_and_one_continuous_timeline(
    steps: list[tuple[str, int, float, bool]], replay_seconds: float
) -> None:
    # 0.064 s is 2048 bytes: a buffer that overflows (its drops stay on millisecond boundaries).
    sim = Sim(core(replay_seconds=replay_seconds, idle_finish=2.0, retry=ENDLESS))
    run_steps(sim, steps)
    sim.drain()
    log, c = sim.log, sim.core

    # One continuous timeline: the segments tile the stream, in order.
    position = 0
    for segment in log.segments:
        assert segment.start == position and segment.end is not None and segment.end >= segment.start
        position = segment.end
    assert position == len(log.stream)
    ends = [log.ends[s.index] for s in log.segments]
    assert [e[0] for e in ends] == [c.timeline.ms(s.end or 0) for s in log.segments]
    assert [e[0] for e in ends] == sorted(e[0] for e in ends)

    for segment in log.segments:
        attempts = log.attempts[segment.index]
        # No final twice: every attempt starts at or after what earlier finals covered.
        offsets = [a.offset for a in attempts]
        assert offsets == sorted(offsets) and all(o >= segment.start for o in offsets)
        assert log.finals[segment.index] == sorted(log.finals[segment.index])
        # What each attempt heard is the stream's audio, with silence only where it was lost.
        for attempt in attempts:
            expected = bytearray(log.stream[attempt.offset : attempt.offset + len(attempt.received)])
            for lo, hi in attempt.silence:
                expected[lo - attempt.offset : hi - attempt.offset] = bytes(hi - lo)
            assert attempt.received == expected
        # No byte lost: each one was covered by a delivered final, heard by the last task,
        # or reported dropped (by a Restart, or as silence).
        covered: list[tuple[int, int]] = list(log.dropped[segment.index])
        for attempt, following in itertools.pairwise(attempts):
            covered.append((attempt.offset, following.acked_at_start))
            covered += attempt.silence
        last = attempts[-1]
        covered += [(last.offset, last.offset + len(last.received)), *last.silence]
        assert last.offset + len(last.received) == segment.end, "the completing task heard the segment to its end"
        assert _union_covers(covered, segment.start, segment.end or 0)

        # Each close that was a request is answered by the completion with its id.
        _, request_id, finalized = log.ends[segment.index]
        assert request_id == log.requests.get(segment.index)
        assert finalized == (request_id is not None)

    assert len(c.replay) == 0, "everything is covered: the buffer is empty"
    assert c.resume_point() == ResumePoint(c.timeline.ms(len(log.stream)), b"", RATE)


def _union_covers(ranges: list[tuple[int, int]], start: int, end: int) -> bool:
    position = start
    for lo, hi in sorted(r for r in ranges if r[1] > r[0]):
        if lo > position:
            return False
        position = max(position, hi)
    return position >= end


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.lists(STEP, max_size=100), st.booleans(), st.sampled_from([0.064, 20.0]))
def test_a_failed_or_aborted_stream_resumes_with_exactly_the_audio_no_final_covers(
    steps: list[tuple[str, int, float, bool]], abort: bool, replay_seconds: float
) -> None:
    sim = Sim(core(replay_seconds=replay_seconds, idle_finish=2.0, retry=ENDLESS))
    run_steps(sim, steps)
    c, log = sim.core, sim.log
    if abort:
        c.abort()
    else:
        for segment in list(log.segments):
            if segment.state is not G.DONE:
                c.give_up(segment)
    point = c.resume_point()
    held = [s.acked for s in log.segments if s.state is not G.DONE] or [len(log.stream)]
    first = max(min(held), c.replay.start)
    assert point.offset_ms == c.timeline.ms(first)
    assert point.audio == bytes(log.stream[first:]), "the very audio, from the oldest byte no final covers"
    resumed = core(resume_from=point)
    assert resumed.audio_ms == c.timeline.ms(first) + point.duration_ms
    if point.audio:
        segment = resumed.open()
        resumed.task_started(segment, 0.0)
        assert resumed.take(segment) == (point.audio, 0), "the new stream sends it first"
