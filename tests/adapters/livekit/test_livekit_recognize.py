"""Non-streaming ``recognize()`` over a buffer of raw frames, against the real local server.

(A per-call language and an empty buffer are in ``test_livekit_logic.py``, in memory.)
"""

from __future__ import annotations

import pytest
from livekit.agents import APIConnectOptions, stt
from livekit.agents.metrics import STTMetrics
from livekit.plugins import funasr_realtime

from funasr_realtime.server.thread import ServerThread
from tests.conftest import load_speech

from .helpers import frames, speech_at

NO_RETRY = APIConnectOptions(max_retry=0)


async def test_recognize_merges_every_sentence_of_a_48k_stereo_buffer(grammar_server: ServerThread) -> None:
    """recognize() gets raw room frames (no base-class resampling): the plugin downmixes,
    resamples to 16 kHz and merges the six finals into one FINAL_TRANSCRIPT."""
    long = load_speech("long")
    plugin = funasr_realtime.STT(url=grammar_server.url)
    metrics: list[STTMetrics] = []
    plugin.on("metrics_collected", metrics.append)
    event = await plugin.recognize(frames(speech_at("long", 48000), 48000, channels=2), conn_options=NO_RETRY)
    await plugin.aclose()
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    [data] = event.alternatives
    assert data.text == long.text
    assert data.language == "en"
    assert 0.1 < data.start_time < 0.6 and 19.5 < data.end_time <= long.duration_ms / 1000 + 0.05
    assert data.words is not None and len(data.words) == len(long.text.split())
    starts = [w.start_time for w in data.words if isinstance(w.start_time, float)]
    assert starts == sorted(starts) and len(starts) == len(data.words)
    assert len(event.request_id) == 32
    [measured] = metrics
    assert not measured.streamed and measured.audio_duration == pytest.approx(long.duration_ms / 1000, abs=0.03)
