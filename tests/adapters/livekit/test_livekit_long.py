"""A minute of speech through LiveKit's own stream (at 4x real time) and recognize() (at full speed).

64 s of speech (the six-sentence fixture three times, see ``tests.adapters.minute``) against
the real grammar server: every sentence must come back, in order, with no reconnect and no
error event. These depend on the core telling a busy server from a dead one and following
progress in its waits (issue 11).
"""

from __future__ import annotations

import logging

import pytest
from livekit.agents import APIConnectOptions, stt
from livekit.plugins import funasr_realtime

from funasr_realtime.server.thread import ServerThread
from tests.adapters.minute import minute_of_speech
from tests.timing import scaled

from .helpers import Recorder, finals, frames, push

NO_RETRY = APIConnectOptions(max_retry=0)


def reconnects(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The plugin's reconnect lines (logged at INFO, or WARNING with a loss)."""
    return [r.getMessage() for r in caplog.records if "recovered from" in r.getMessage()]


async def test_a_minute_through_stream_at_4x_gives_every_sentence(
    grammar_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livekit.plugins.funasr_realtime")
    pcm, texts = minute_of_speech()
    plugin = funasr_realtime.STT(url=grammar_server.url)
    errors: list[stt.STTError] = []
    plugin.on("error", errors.append)
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, frames(pcm, 16000), pace=0.25)
    stream.end_input()
    events = await recorder.finish(timeout=scaled(60))
    await plugin.aclose()
    assert [f.text for f in finals(events)] == texts
    assert errors == []
    assert reconnects(caplog) == []
    assert finals(events)[-1].end_time <= len(pcm) / 32000 + 0.05


async def test_recognize_on_a_minute_buffer_gives_every_sentence(
    grammar_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """recognize() sends as fast as flow control allows and waits as long as results come:
    no fixed wait cuts it short (it failed after 4 attempts in 48-51 s on a 46.6 s buffer)."""
    caplog.set_level(logging.INFO, logger="livekit.plugins.funasr_realtime")
    pcm, texts = minute_of_speech()
    plugin = funasr_realtime.STT(url=grammar_server.url)
    errors: list[stt.STTError] = []
    plugin.on("error", errors.append)
    event = await plugin.recognize(frames(pcm, 16000), conn_options=NO_RETRY)
    await plugin.aclose()
    [data] = event.alternatives
    assert data.text == " ".join(texts)
    assert data.metadata is None, "no audio lost"
    assert errors == []
    assert reconnects(caplog) == []
