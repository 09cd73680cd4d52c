"""Audio lost to an outage longer than the replay buffer is never silent in the LiveKit plugin.

A black hole (the proxy keeps the sockets and forwards nothing) outlasts a 0.3 s replay
buffer: the core reconnects with ``Reconnected.dropped_ms > 0``. The plugin must log a
warning and emit a recoverable ``error`` event carrying :class:`AudioLost`, and
``recognize()`` must also say it in the FINAL's metadata; recognition goes on.
"""

from __future__ import annotations

import contextlib
import logging

import pytest
from livekit.agents import APIConnectOptions, stt
from livekit.plugins import funasr_realtime

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import Fault
from tests.conftest import load_speech
from tests.timing import scaled

from .helpers import Recorder, finals, frames, plugin_behind_fault, push

TIMEOUTS = fr.Timeouts(connect=2, task_started=2, stop=3, send=2, ping_interval=0.3, ping_timeout=0.3)
SHORT_REPLAY = fr.Resilience(replay_seconds=0.3, backoff_initial=0.05, backoff_max=0.2)
NO_RETRY = APIConnectOptions(max_retry=0)


def blackholed(url: str) -> contextlib.AbstractAsyncContextManager[tuple[funasr_realtime.STT, list[stt.STTError]]]:
    """A plugin with a short replay buffer whose connection goes silent after 1 s of audio."""
    return plugin_behind_fault(url, Fault.BLACKHOLE, client_bytes=32000, timeouts=TIMEOUTS, resilience=SHORT_REPLAY)


def losses(errors: list[stt.STTError]) -> list[funasr_realtime.AudioLost]:
    return [e.error for e in errors if isinstance(e.error, funasr_realtime.AudioLost)]


def assert_reported(errors: list[stt.STTError], caplog: pytest.LogCaptureFixture) -> int:
    lost = losses(errors)
    assert lost, "the loss reached the STT's error event"
    assert all(e.recoverable for e in errors if isinstance(e.error, funasr_realtime.AudioLost))
    assert all(e.dropped_ms > 0 and e.retryable for e in lost)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "ms lost" in r.getMessage()]
    assert warnings, "and a warning was logged"
    return sum(e.dropped_ms for e in lost)


async def test_stream_reports_lost_audio_and_goes_on(
    grammar_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    long = load_speech("long")
    async with blackholed(grammar_server.url) as (plugin, errors):
        stream = plugin.stream()
        recorder = Recorder(stream)
        await push(stream, frames(long.pcm[: 9600 * 32], 16000), pace=0.5)
        stream.end_input()
        events = await recorder.finish(timeout=scaled(20))
        await plugin.aclose()
    assert_reported(errors, caplog)
    assert [e for e in errors if not e.recoverable] == [], "a loss is reported, not fatal"
    assert finals(events) and finals(events)[-1].text == long.texts[2], "recognition went on after the outage"


async def test_recognize_reports_lost_audio_in_the_event_and_its_metadata(
    grammar_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    long = load_speech("long")
    async with blackholed(grammar_server.url) as (plugin, errors):
        event = await plugin.recognize(frames(long.pcm, 16000), conn_options=NO_RETRY)
        await plugin.aclose()
    dropped = assert_reported(errors, caplog)
    [data] = event.alternatives
    assert data.metadata == {"funasr_dropped_ms": dropped}
    assert data.text.endswith(long.texts[-1]), "the audio after the outage was recognized"
