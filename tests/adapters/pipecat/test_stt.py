"""FunAsrRealtimeSTTService inside Pipecat pipelines, against the real local server: the wire.

Every test runs a real ``PipelineWorker`` through ``pipecat.tests.utils.run_test`` and the
pocketsphinx server restricted to the fixture sentences (exact transcripts); faults come
from the FaultProxy, never from patching. These are the tests that need a socket: real
words and times at every pipeline rate, the server's own handshake rejection, and network
faults. The service's logic (finalizing, settings, errors, metrics) is tested without one,
on the in-memory transport, in ``test_logic.py``.
"""

from __future__ import annotations

import pytest
from pipecat.frames.frames import InputAudioRawFrame, InterimTranscriptionFrame, TranscriptionFrame
from pipecat.tests.utils import SleepFrame
from pipecat.utils.errors import ErrorCategory
from pipecat_funasr_realtime import FunAsrRealtimeSTTService, FunAsrSTTUsage
from pydantic import SecretStr

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import Fault, FaultProxy
from tests.conftest import GRAMMAR, load_speech

from .helpers import audio, errors, of_type, realtime, resample, run, transcripts, usage, vad_stop

FAST = fr.Resilience(backoff_initial=0.05, backoff_max=0.2)


@pytest.mark.parametrize("rate", [16000, 48000, 8000])
async def test_speech_at_any_pipeline_rate_gives_partials_then_a_finalized_transcript(
    grammar_server: ServerThread, rate: int
) -> None:
    speech = load_speech("s1", 8000) if rate == 8000 else load_speech("s1")
    pcm = resample(speech.pcm, 16000, rate) if rate == 48000 else speech.pcm
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    sent = audio(pcm, rate, user_id="caller-7")
    down, up = await run(stt, [*sent, SleepFrame(0.3), vad_stop(), SleepFrame(0.5)], rate=rate)

    assert not errors(up)
    assert len(of_type(down, InputAudioRawFrame)) == len(sent), "audio passes through untouched"
    texts = [(type(f), f.text) for f in down if isinstance(f, (InterimTranscriptionFrame, TranscriptionFrame))]
    [final] = transcripts(down)
    assert final.text == speech.text
    assert final.finalized
    assert texts[-1] == (TranscriptionFrame, speech.text), "the transcript comes after the partials"
    assert len(texts) >= 3 and all(kind is InterimTranscriptionFrame for kind, _ in texts[:-1])
    assert final.user_id == "caller-7"
    assert final.language is None  # auto-detect
    assert final.includes_inter_frame_spaces is False
    sentence = final.result
    assert isinstance(sentence, fr.Sentence)
    assert [w.text for w in sentence.words] == speech.text.split()
    # Fun-ASR got 16 kHz audio: times are on the real timeline (3x too long if 48 kHz had
    # been sent as 16 kHz, half as long for unconverted 8 kHz).
    assert sentence.end_time is not None and speech.duration_ms - 700 < sentence.end_time <= speech.duration_ms
    [report] = [u for u in usage(down) if u.billed_seconds]
    assert isinstance(report, FunAsrSTTUsage) and report.billed_seconds == 3  # 2.49 s, whole seconds
    assert sum(u.audio_seconds for u in usage(down)) == pytest.approx(speech.duration_ms / 1000, abs=0.01)


async def test_dropped_connection_mid_utterance_still_gives_the_whole_transcript(
    grammar_server: ServerThread,
) -> None:
    speech = load_speech("s1")
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.fail_after(client_bytes=len(speech.pcm) // 2)  # reset halfway through the sentence
        stt = FunAsrRealtimeSTTService(url=proxy.url, resilience=FAST)
        reconnects: list[fr.Reconnected] = []

        async def on_reconnected(service: FunAsrRealtimeSTTService, event: fr.Reconnected) -> None:
            reconnects.append(event)

        stt.add_event_handler("on_reconnected", on_reconnected)

        down, up = await run(stt, [*realtime(speech.pcm, speed=8), vad_stop(), SleepFrame(1.0)])
    assert not errors(up), "recovered without audio loss: nothing to report"
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)
    [reconnect] = reconnects
    assert reconnect.dropped_ms == 0 and reconnect.replayed_ms > 0
    assert proxy.run_tasks == 2


PERMANENT = {
    # where the error comes from: (server config, expected category). A refused handshake
    # and the server's task-failed are in test_logic.py, on the in-memory transport.
    "server-bad-key": (ServerConfig(grammar=GRAMMAR, api_key=SecretStr("right")), ErrorCategory.AUTHENTICATION),
}


@pytest.mark.parametrize("where", list(PERMANENT))
async def test_permanent_error_gives_exactly_one_fatal_error_frame(where: str) -> None:
    """The local server's own handshake rejection, through the wire: the key never shows."""
    config, category = PERMANENT[where]
    speech = load_speech("s3")
    with ServerThread(config) as server:
        async with FaultProxy(server.url) as proxy:
            stt = FunAsrRealtimeSTTService(url=proxy.url, api_key="wrong", resilience=FAST)
            frames = [*realtime(speech.pcm, speed=8), vad_stop(), SleepFrame(0.5), *audio(speech.pcm), vad_stop()]
            down, up = await run(stt, [*frames, SleepFrame(0.3)])
            connections, tasks = proxy.connections, proxy.run_tasks
    [error] = errors(up)
    assert error.category is category
    assert not stt.is_usable, "a ServiceSwitcher can fail over"
    assert "wrong" not in error.error, "the key never shows"
    assert connections <= 2 and tasks <= 1, "no retry after a permanent error"
    assert not transcripts(down)


async def test_audio_lost_to_a_long_outage_is_reported_without_stopping_the_service(
    grammar_server: ServerThread,
) -> None:
    """A black hole outlasting a 0.3 s replay buffer: recognition goes on, the loss is said."""
    speech = load_speech("long")
    timeouts = fr.Timeouts(connect=2, task_started=2, stop=3, send=2, ping_interval=0.3, ping_timeout=0.3)
    resilience = fr.Resilience(replay_seconds=0.3, backoff_initial=0.05, backoff_max=0.2)
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.fail_after(client_bytes=32000, fault=Fault.BLACKHOLE)
        stt = FunAsrRealtimeSTTService(url=proxy.url, timeouts=timeouts, resilience=resilience)
        down, up = await run(stt, [*realtime(speech.pcm[: 9600 * 32], speed=2), vad_stop(), SleepFrame(0.8)])
    [error] = errors(up)
    assert error.category is ErrorCategory.CONNECTIVITY
    assert "ms of audio" in error.error
    assert stt.is_usable, "a loss is reported, not fatal"
    assert transcripts(down)[-1].text == speech.texts[2], "recognition went on after the outage"
