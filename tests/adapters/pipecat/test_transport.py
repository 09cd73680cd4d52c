"""The service's ``transport=`` option: a pipeline served in memory, with no socket and no key.

A scripted server (a :class:`~funasr_realtime.testing.MockTransport` handler) sees what the
service sends, and what it answers reaches the pipeline as Pipecat frames: a final as a
``TranscriptionFrame`` with its text and stream times, a task-failed code as the
``ErrorFrame`` of its category, a reconnect as ``on_reconnected`` (and a loss as a
non-fatal ``ErrorFrame``). The ``no_network`` fixture fails a test that opens a connection.
"""

from __future__ import annotations

import pytest
from pipecat.tests.utils import SleepFrame
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory
from pipecat_funasr_realtime import FunAsrRealtimeSTTService, FunAsrSTTUsage

import funasr_realtime as fr
from funasr_realtime.testing import MockConnection, MockTransport
from tests.adapters.fake_asr import FakeFunAsr
from tests.conftest import load_speech

from .helpers import audio, errors, resample, run, transcripts, usage, vad_stop

pytestmark = pytest.mark.usefixtures("no_network")


async def one_final(server: MockConnection) -> None:
    """Each task: all its audio, then one final (120-900 ms, 2 s billed) and task-finished."""
    while True:
        await server.run_task()
        await server.start_task()
        await server.audio_until_finish()
        await server.result("hello from memory", final=True, begin_time=120, end_time=900, usage=2)
        await server.finish_task()


def test_a_service_with_a_transport_needs_no_key_or_url() -> None:
    FunAsrRealtimeSTTService(transport=MockTransport(one_final))
    with pytest.raises(fr.ConfigurationError, match="no API key"):
        FunAsrRealtimeSTTService()  # without one, the cloud endpoint needs a key


@pytest.mark.parametrize("rate", [16000, 48000])
async def test_a_scripted_final_reaches_the_pipeline_as_a_transcript_with_its_text_and_times(rate: int) -> None:
    speech = load_speech("s1")
    pcm = resample(speech.pcm, 16000, rate) if rate != 16000 else speech.pcm
    mock = MockTransport(one_final)
    stt = FunAsrRealtimeSTTService(transport=mock, language=Language.ZH_CN)
    down, up = await run(stt, [*audio(pcm, rate), vad_stop(), SleepFrame(0.2)], rate=rate)

    assert not errors(up)
    [final] = transcripts(down)
    assert (final.text, final.finalized, final.language) == ("hello from memory", True, Language.ZH)
    sentence = final.result
    assert isinstance(sentence, fr.Sentence)
    assert (sentence.begin_time, sentence.end_time) == (120, 900), "the first task starts the stream timeline"
    [report] = [u for u in usage(down) if u.billed_seconds]
    assert isinstance(report, FunAsrSTTUsage) and report.billed_seconds == 2

    [run_task] = mock.run_tasks
    assert run_task.model == "fun-asr-realtime"
    assert (run_task.parameters["sample_rate"], run_task.parameters["format"]) == (16000, "pcm"), "resampled to 16 kHz"
    assert run_task.parameters["language_hints"] == ["zh"]
    heard = sum(connection.audio_bytes for connection in mock.connections)
    assert abs(heard - len(speech.pcm)) <= 32 * 20, "all of it, at 16 kHz (within a resampler frame)"
    assert mock.errors == []


async def fails_with(server: MockConnection, code: str) -> None:
    await server.run_task()
    await server.fail_task(code, f"scripted {code}")


@pytest.mark.parametrize(
    ("code", "category", "retried"),
    [
        ("InvalidApiKey", ErrorCategory.AUTHENTICATION, False),
        ("Arrearage", ErrorCategory.QUOTA, False),
        ("InternalError", ErrorCategory.SERVER, True),  # (throttling is retried on its own, slower clock)
    ],
)
async def test_a_scripted_task_failure_reaches_the_pipeline_as_one_error_frame_of_its_category(
    code: str, category: ErrorCategory, retried: bool
) -> None:
    async def handler(server: MockConnection) -> None:
        await fails_with(server, code)

    mock = MockTransport(handler)
    resilience = fr.Resilience(max_retries=1, backoff_initial=0.01, backoff_max=0.02, standby=False)
    stt = FunAsrRealtimeSTTService(transport=mock, resilience=resilience)
    down, up = await run(stt, [*audio(load_speech("s2").pcm), vad_stop(), SleepFrame(0.3)])

    [error] = errors(up)
    assert error.category is category
    assert code in error.error
    assert not stt.is_usable
    assert not transcripts(down)
    assert len(mock.run_tasks) == (2 if retried else 1), "only a transient code is retried (once here)"


async def test_a_reconnect_reaches_the_on_reconnected_handler_and_nothing_is_lost() -> None:
    speech = load_speech("s1")
    fake = FakeFunAsr([speech.text], drop_after=len(speech.pcm) // 2)  # a reset mid-sentence
    stt = FunAsrRealtimeSTTService(transport=fake.transport, resilience=fr.Resilience(backoff_initial=0.01))
    reconnects: list[fr.Reconnected] = []

    async def on_reconnected(service: FunAsrRealtimeSTTService, event: fr.Reconnected) -> None:
        reconnects.append(event)

    stt.add_event_handler("on_reconnected", on_reconnected)
    down, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.3)])

    assert not errors(up), "recovered without audio loss: nothing to report"
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)
    [reconnect] = reconnects
    assert reconnect.dropped_ms == 0 and reconnect.replayed_ms > 0
    cut, resumed = fake.tasks
    assert not cut.finished and resumed.said == [speech.text]
    assert resumed.audio_bytes == len(speech.pcm), "the replay sent the task's audio again"
    assert fake.errors == []


async def test_audio_lost_in_a_reconnect_is_a_non_fatal_connectivity_error_frame() -> None:
    """A 0.3 s replay buffer and a reset after 1.5 s of an unfinished sentence."""
    speech = load_speech("s1")
    fake = FakeFunAsr([speech.text], drop_after=48000)
    resilience = fr.Resilience(replay_seconds=0.3, backoff_initial=0.01)
    stt = FunAsrRealtimeSTTService(transport=fake.transport, resilience=resilience)
    reconnects: list[fr.Reconnected] = []

    async def on_reconnected(service: FunAsrRealtimeSTTService, event: fr.Reconnected) -> None:
        reconnects.append(event)

    stt.add_event_handler("on_reconnected", on_reconnected)
    down, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.3)])

    [reconnect] = reconnects
    assert reconnect.dropped_ms > 0
    [error] = errors(up)
    assert error.category is ErrorCategory.CONNECTIVITY
    assert f"{reconnect.dropped_ms} ms of audio" in error.error
    assert stt.is_usable, "a loss is reported, not fatal"
    assert [t.text for t in transcripts(down)] == [speech.text], "recognition went on"
    assert fake.errors == []
