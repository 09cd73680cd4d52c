"""Liveness tells slow from dead.

The rules of :class:`~funasr_realtime.client._liveness.Liveness` on a fake socket with a
hand-driven clock (deterministic), then on the wire: a ping to the real server is answered
and recognized as such, and a black hole under a full-speed sender is detected within the
documented bound with no words lost.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import funasr_realtime as fr
from funasr_realtime.client._liveness import Liveness
from funasr_realtime.client._transport import WebSocketTransport
from funasr_realtime.client.connection import Connection
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import FaultProxy
from tests.conftest import minute_of_speech
from tests.feeding import feed_and_collect
from tests.timing import scaled

TIMEOUTS = fr.Timeouts(ping_interval=1.0, ping_timeout=1.0, results=3.0)


class FakeTransport:
    def __init__(self) -> None:
        self.buffered = 0

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str) -> Any:
        return None  # no kernel queue to read: the userspace buffer is the whole backlog


@dataclass
class FakeProtocol:
    pings: list[bytes] = field(default_factory=list)

    def send_ping(self, payload: bytes) -> None:
        self.pings.append(payload)


class FakeSocket:
    """What Liveness reads of a websockets connection, driven by hand."""

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.protocol = FakeProtocol()
        self.pending_pings: dict[bytes, Any] = {}

    def send_data(self) -> None:
        pass

    def pong(self) -> None:
        self.pending_pings.clear()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watchdog() -> tuple[Liveness, FakeSocket, Clock, list[fr.FunAsrError]]:
    ws, clock, deaths = FakeSocket(), Clock(), []
    liveness = Liveness(WebSocketTransport(ws), TIMEOUTS, clock, deaths.append)  # type: ignore[arg-type]
    return liveness, ws, clock, deaths


def check(liveness: Liveness) -> fr.FunAsrError | None:
    return liveness._check(1.0, 1.0)


async def test_a_quiet_connection_is_pinged_and_a_pong_keeps_it_alive() -> None:
    liveness, ws, clock, _ = watchdog()
    clock.now += 0.5
    assert check(liveness) is None and ws.protocol.pings == []  # something was received recently
    clock.now += 0.6
    assert check(liveness) is None and len(ws.protocol.pings) == 1
    ws.pong()
    clock.now += 0.9
    assert check(liveness) is None  # the pong arrived: the ping is settled
    clock.now += 0.5
    assert check(liveness) is None and len(ws.protocol.pings) == 2  # quiet again: a new ping


async def test_no_pong_and_nothing_received_is_dead_after_ping_timeout() -> None:
    liveness, _ws, clock, _ = watchdog()
    clock.now += 1.0
    assert check(liveness) is None  # ping sent
    clock.now += 0.9
    assert check(liveness) is None
    clock.now += 0.2
    error = check(liveness)
    assert isinstance(error, fr.TransportTimeout)


async def test_any_message_counts_as_a_pong() -> None:
    liveness, _ws, clock, _ = watchdog()
    clock.now += 1.0
    check(liveness)
    clock.now += 0.5
    liveness.received()  # a result arrived; the pong is still queued somewhere
    clock.now += 1.0
    assert check(liveness) is None


async def test_a_ping_behind_a_draining_backlog_gets_another_window() -> None:
    liveness, ws, clock, _ = watchdog()
    ws.transport.buffered = 1_000_000  # a megabyte queued ahead of the ping
    clock.now += 1.0
    check(liveness)
    for _ in range(5):  # the peer keeps acknowledging: 100 kB leave per window
        clock.now += 1.1
        ws.transport.buffered -= 100_000
        assert check(liveness) is None
    clock.now += 1.1  # the backlog stops draining: now it is dead
    assert isinstance(check(liveness), fr.TransportTimeout)


async def test_a_backlog_that_does_not_drain_hides_nothing() -> None:
    """A black hole acknowledges nothing: a send backlog must not delay the verdict."""
    liveness, ws, clock, _ = watchdog()
    ws.transport.buffered = 1_000_000
    clock.now += 1.0
    check(liveness)
    clock.now += 1.1
    assert isinstance(check(liveness), fr.TransportTimeout)


async def test_once_the_bytes_ahead_of_the_ping_are_gone_the_ping_has_no_excuse() -> None:
    liveness, ws, clock, _ = watchdog()
    ws.transport.buffered = 200_000
    clock.now += 1.0
    check(liveness)
    clock.now += 1.1
    ws.transport.buffered = 0  # everything ahead of the ping left in this window
    assert check(liveness) is None  # it drained during the window: one more window
    clock.now += 1.1
    liveness.sent_audio(50_000)  # new audio behind the ping drains too: not evidence
    assert isinstance(check(liveness), fr.TransportTimeout)


async def test_audio_with_no_answer_for_the_results_timeout_is_a_stall() -> None:
    liveness, ws, clock, _ = watchdog()
    liveness.watch_results = True
    liveness.sent_audio(3200)
    for _ in range(3):
        clock.now += 0.9
        ws.pong()  # pongs come back, but no result for the audio
        assert check(liveness) is None
    clock.now += 0.4
    assert isinstance(check(liveness), fr.TransportTimeout)


async def test_no_stall_when_heartbeats_were_not_asked_for() -> None:
    liveness, ws, clock, _ = watchdog()
    liveness.sent_audio(3200)  # watch_results is False: silence may legitimately get nothing
    for _ in range(10):
        clock.now += 0.9
        check(liveness)
        ws.pong()
        assert check(liveness) is None


# ------------------------------------------------------------------ on the wire


class Closed:
    """A transport already closed: the watchdog has nothing to watch."""

    is_open = False


async def test_the_watchdog_timer_stops_by_itself_once_the_transport_is_closed() -> None:
    deaths: list[fr.FunAsrError] = []
    timeouts = fr.Timeouts(ping_interval=0.05, ping_timeout=0.05)
    liveness = Liveness(Closed(), timeouts, time.monotonic, deaths.append)  # type: ignore[arg-type]
    liveness.start()
    assert liveness._timer is not None
    await asyncio.sleep(scaled(0.2))  # the first tick (after 20 ms) finds the transport closed
    assert liveness._timer is None and deaths == []
    liveness.start()
    liveness.stop()
    liveness.stop()  # idempotent
    assert liveness._timer is None
    off = Liveness(Closed(), fr.Timeouts(ping_interval=None), time.monotonic, deaths.append)
    off.start()
    assert off._timer is None  # liveness off: no timer at all


async def test_pings_to_the_real_server_are_answered_and_recognized(grammar_server: ServerThread) -> None:
    """If our pong detection broke (websockets renamed its ping table), this would die."""
    config = fr.Client(url=grammar_server.url, timeouts=fr.Timeouts(ping_interval=0.1, ping_timeout=0.1)).config
    connection = await Connection.open(config)
    try:
        await asyncio.sleep(scaled(1.5))  # about seven ping rounds with nothing else to read
        assert connection.alive
    finally:
        await connection.aclose()


async def test_a_black_hole_under_a_full_speed_sender_is_detected_within_the_bound(
    grammar_server: ServerThread,
) -> None:
    pcm, sentences = minute_of_speech()
    timeouts = fr.Timeouts(ping_interval=1.0, ping_timeout=1.0, close=0.5)
    bound = 1.0 + 1.0 + 0.5 + 1.0  # interval + timeout + close, + a watchdog tick and a backoff
    finals = 0
    reconnected_at: list[float] = []
    struck: list[float] = []

    def strike_after_two_finals(event: fr.StreamEvent) -> None:
        nonlocal finals
        if isinstance(event, fr.SentenceEvent) and event.is_final:
            finals += 1
            if finals == 2:
                struck.append(time.monotonic())
                proxy.blackhole()
        elif isinstance(event, fr.Reconnected):
            reconnected_at.append(time.monotonic())

    async with (
        FaultProxy(grammar_server.url) as proxy,
        fr.Client(url=proxy.url, timeouts=timeouts).stream(sample_rate=16000) as stream,
    ):
        collected = await feed_and_collect(stream, pcm, on_event=strike_after_two_finals)
    reconnects = list(zip(reconnected_at, collected.reconnects, strict=True))
    assert len(reconnects) == 1
    at, reconnected = reconnects[0]
    assert isinstance(reconnected.error, fr.TransportTimeout)
    assert at - struck[0] < scaled(bound) + reconnected.downtime_ms / 1000
    assert reconnected.dropped_ms == 0
    assert collected.finals == sentences
