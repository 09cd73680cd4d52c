"""FunAsrRealtimeSTTService's logic inside Pipecat pipelines, on the in-memory transport.

Each test runs a real ``PipelineWorker`` through ``pipecat.tests.utils.run_test`` with the
service on ``transport=`` a :class:`~funasr_realtime.testing.MockTransport`: a scripted
Fun-ASR (``tests.adapters.fake_asr``), or the local server's own task handling in memory
(``funasr_realtime.testing.recognizer``). No socket is opened (the ``no_network`` fixture
fails the test otherwise). What needs real recognition or a real network fault stays in
``test_stt.py``, on the loopback server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from pipecat.frames.frames import (
    CancelFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    ProposedUserStartedSpeakingFrame,
    ProposedUserStoppedSpeakingFrame,
    STTMetadataFrame,
    STTMuteFrame,
    STTUpdateSettingsFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import STTUsageMetricsData
from pipecat.tests.utils import SleepFrame
from pipecat.transcriptions.language import Language
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from pipecat.utils.errors import ErrorCategory
from pipecat_funasr_realtime import FunAsrRealtimeSTTService, FunAsrRealtimeSTTSettings

import funasr_realtime as fr
from funasr_realtime.testing import recognizer
from tests.adapters.fake_asr import CountingTransport, FakeFunAsr
from tests.conftest import load_speech

from .helpers import (
    STOP_SECS,
    Clock,
    Reflector,
    Upstream,
    audio,
    errors,
    metrics,
    of_type,
    processing,
    realtime,
    run,
    transcripts,
    ttfb,
    vad_stop,
)

pytestmark = pytest.mark.usefixtures("no_network")

FAST = fr.Resilience(backoff_initial=0.05, backoff_max=0.2)
SILENCE = bytes(16000)  # 0.5 s at 16 kHz: a live microphone between turns


def service(fake: FakeFunAsr, **options: Any) -> FunAsrRealtimeSTTService:
    """The service on the fake's in-memory transport (no key, no URL)."""
    return FunAsrRealtimeSTTService(transport=fake.transport, **options)


def settings(stt: FunAsrRealtimeSTTService) -> FunAsrRealtimeSTTSettings:
    """The service's current settings, as its own settings class."""
    current = stt.settings
    assert isinstance(current, FunAsrRealtimeSTTSettings)
    return current


# --------------------------------------------------------------------------- finalizing


async def test_vad_stop_finalizes_at_once_and_measures_ttfb_from_it() -> None:
    """The VAD stop ends the task, so the transcript does not wait for Fun-ASR's 1.3 s of
    silence (the fake waits for it too: only finish-task makes it answer here)."""
    speech = load_speech("s2")
    fake = FakeFunAsr([speech.text])
    before, after = Clock(), Clock()
    stt = service(fake)
    frames = [VADUserStartedSpeakingFrame(), *audio(speech.pcm), vad_stop(), SleepFrame(0.8)]
    down, up = await run([before, stt, after], frames)

    assert not errors(up)
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)
    latency = after.first(TranscriptionFrame) - before.first(VADUserStoppedSpeakingFrame)
    assert latency < 0.5
    [measured] = ttfb(down)
    assert measured == pytest.approx(latency + STOP_SECS, abs=0.1), "TTFB runs from the end of speech"
    [flush] = processing(down)
    assert flush <= latency
    assert fake.errors == []


async def test_vad_stop_arriving_upstream_finalizes_too() -> None:
    """With the VAD in the user aggregator (after the STT) the stop reaches the STT upstream."""
    speech = load_speech("s3")
    fake = FakeFunAsr([speech.text])
    before, after = Clock(), Clock()
    frames = [*audio(speech.pcm), Upstream(frame=vad_stop()), SleepFrame(0.8)]
    down, up = await run([before, service(fake), Reflector(), after], frames)
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)
    assert of_type(up, VADUserStoppedSpeakingFrame), "the VAD frame travels on upstream"
    latency = after.first(TranscriptionFrame) - before.first(Upstream)
    assert latency < 0.5, "the stop finalized the task (not the EndFrame, 0.8 s later)"


async def test_a_late_answer_marks_only_the_transcript_of_its_own_finalize() -> None:
    """The user speaks again before the first finalize is answered (slow network): the first
    transcript still comes, unmarked (its turn is over, as Pipecat's base class has it), and
    only the second, answering the standing request, is marked finalized."""
    first, second = load_speech("s1"), load_speech("s2")
    fake = FakeFunAsr([first.text, second.text], answer_delay=0.2)
    frames = [
        VADUserStartedSpeakingFrame(),
        *audio(first.pcm),
        vad_stop(),
        VADUserStartedSpeakingFrame(),
        *audio(second.pcm),
        vad_stop(),
        SleepFrame(0.8),
    ]
    down, up = await run(service(fake), frames)
    assert not errors(up)
    assert [(t.text, t.finalized) for t in transcripts(down)] == [(first.text, False), (second.text, True)]
    assert [task.said for task in fake.tasks] == [[first.text], [second.text]], "one task per utterance"


async def test_interruption_does_not_stop_recognition() -> None:
    speech = load_speech("s4")
    half = len(speech.pcm) // 4 * 2
    fake = FakeFunAsr([speech.text])
    frames = [*audio(speech.pcm[:half]), InterruptionFrame(), *audio(speech.pcm[half:]), vad_stop(), SleepFrame(0.3)]
    down, up = await run(service(fake), frames)
    assert not errors(up)
    assert [t.text for t in transcripts(down)] == [speech.text]
    [task] = fake.tasks
    assert task.audio_bytes == len(speech.pcm), "one task heard all of it"
    assert fake.errors == []


async def test_end_frame_right_after_speech_keeps_the_last_words() -> None:
    speech = load_speech("s5")
    stt = service(FakeFunAsr([speech.text]))
    down, up = await run(stt, audio(speech.pcm))  # run_test sends the EndFrame at once
    assert not errors(up)
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)


async def test_cancel_frame_aborts_without_waiting() -> None:
    speech = load_speech("s6")
    stt = service(FakeFunAsr([speech.text]))
    started = time.monotonic()
    down, up = await run(stt, [*audio(speech.pcm), CancelFrame()], send_end_frame=False)
    assert time.monotonic() - started < 2.0
    assert not transcripts(down)
    assert not errors(up)
    assert stt.stream is None


async def test_server_endpointing_turns_each_sentence_end_into_a_proposed_turn() -> None:
    """Fun-ASR's own sentence end (0.6 s of silence) produces the finals; a VAD stop in
    the middle of a sentence does not cut it."""
    long = load_speech("long")
    three = long.pcm[: 11000 * 32]  # three sentences with 1.5 s pauses, then 1.4 s of silence
    fake = FakeFunAsr(long.texts[:3])
    stt = service(fake, endpointing="server", settings=FunAsrRealtimeSTTService.Settings(max_sentence_silence=600))
    chunks = audio(three, chunk_ms=100)
    frames = [*chunks[:20], VADUserStoppedSpeakingFrame(stop_secs=STOP_SECS), *chunks[20:], SleepFrame(0.2)]
    down, up = await run(stt, frames)

    assert not errors(up)
    got = transcripts(down)
    assert [t.text for t in got] == list(long.texts[:3])
    assert all(t.finalized for t in got), "the server's sentence end is final"
    turn = [
        type(f).__name__
        for f in down
        if isinstance(f, (ProposedUserStartedSpeakingFrame, ProposedUserStoppedSpeakingFrame, TranscriptionFrame))
    ]
    assert turn == ["ProposedUserStartedSpeakingFrame", "TranscriptionFrame", "ProposedUserStoppedSpeakingFrame"] * 3
    [metadata] = of_type(down, STTMetadataFrame)
    assert isinstance(metadata.user_turn_strategies, ExternalUserTurnStrategies)
    [task] = fake.tasks
    assert task.said == list(long.texts[:3]), "the VAD stop did not end the task"


# --------------------------------------------------------------------------- connection and session


async def test_metadata_publishes_the_latency_hint() -> None:
    stt = service(FakeFunAsr(), ttfs_p99_latency=0.42)
    down, _ = await run(stt, [SleepFrame(0.05)])
    [metadata] = of_type(down, STTMetadataFrame)
    assert metadata.ttfs_p99_latency == 0.42
    assert metadata.user_turn_strategies is None  # Pipecat's VAD owns turns


async def test_connection_is_prewarmed_before_any_audio() -> None:
    fake = FakeFunAsr()
    stt = service(fake)
    connected: list[bool] = []

    async def on_connected(service: FunAsrRealtimeSTTService) -> None:
        connected.append(len(fake.transport.connections) >= 1)

    stt.add_event_handler("on_connected", on_connected)

    await run(stt, [SleepFrame(0.1)])
    assert connected == [True]
    assert fake.transport.run_tasks == [], "pre-warming opens a connection, not a task"


async def test_mute_of_any_length_keeps_the_session() -> None:
    """The server fails a task after 1 s without audio (the service: 23 s); the core
    finishes idle tasks first, so a long mute costs nothing and speech after it works."""
    before, after = load_speech("s1"), load_speech("s3")
    muted = load_speech("s2")
    fake = FakeFunAsr([before.text, after.text], client_timeout=1.0, idle_timeout=1.0)
    stt = service(fake, resilience=fr.Resilience(idle_finish=0.3))
    reconnects: list[fr.Reconnected] = []

    async def on_reconnected(service: FunAsrRealtimeSTTService, event: fr.Reconnected) -> None:
        reconnects.append(event)

    stt.add_event_handler("on_reconnected", on_reconnected)

    frames = [
        *audio(before.pcm),
        STTMuteFrame(mute=True),
        *audio(muted.pcm),  # not sent: the mute drops it
        SleepFrame(2.5),
        STTMuteFrame(mute=False),
        *audio(after.pcm),
        vad_stop(),
        SleepFrame(0.3),
    ]
    down, up = await run(stt, frames)
    assert not errors(up)
    assert not reconnects
    assert [t.text for t in transcripts(down)] == [before.text, after.text]
    assert transcripts(down)[-1].finalized
    assert fake.errors == [] and all(task.finished for task in fake.tasks), "no task timed out"


# --------------------------------------------------------------------------- settings


async def test_language_setting_maps_to_a_fun_asr_hint() -> None:
    speech = load_speech("s1")
    fake = FakeFunAsr([speech.text])
    stt = service(fake, language=Language.EN_US)
    assert settings(stt).language == "en"
    down, _ = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.3)])
    [final] = transcripts(down)
    assert final.language is Language.EN
    [task] = fake.tasks
    assert task.parameters["language_hints"] == ["en"], "the hint Fun-ASR got"


async def test_settings_change_mid_stream_applies_to_the_next_utterance() -> None:
    """Language and segmentation change between utterances while (silent) audio keeps
    flowing: the next utterance gets them (its 0.4 s sentence silence splits the two
    sentences the first task's 6 s would not), with no reconnect and no audio lost."""
    first = load_speech("s1")
    long = load_speech("long")
    two_sentences = long.pcm[: 6200 * 32]  # sentences 1 and 2 of the long recording, 1.5 s apart
    fake = FakeFunAsr([first.text, *long.texts[:2]])
    stt = service(fake, settings=FunAsrRealtimeSTTService.Settings(max_sentence_silence=6000))
    update = FunAsrRealtimeSTTService.Settings(
        language=Language.EN_US,
        max_sentence_silence=400,
        model="fun-asr-realtime-2025-11-07",  # a dated snapshot, same 16 kHz rate
        vocabulary_id="vocab-travel",
    )
    frames = [
        *audio(first.pcm),
        vad_stop(),
        *realtime(SILENCE, speed=8),
        STTUpdateSettingsFrame(delta=update),
        *realtime(SILENCE, speed=8),
        *audio(two_sentences),
        vad_stop(),
        SleepFrame(0.3),
    ]
    down, up = await run(stt, frames)
    assert not errors(up)
    got = transcripts(down)
    assert [t.text for t in got] == [first.text, *long.texts[:2]]
    assert [t.finalized for t in got] == [True, False, True], "the server split the second utterance itself"
    assert [t.language for t in got] == [None, Language.EN, Language.EN]
    assert (settings(stt).max_sentence_silence, settings(stt).vocabulary_id) == (400, "vocab-travel")
    assert metrics(down, STTUsageMetricsData)[-1].model == "fun-asr-realtime-2025-11-07"
    assert len(fake.tasks) == 3, "utterance, silence until the change, utterance"
    assert fake.transport.opens <= 3, "no reconnect: the pre-warmed connection and the standby"
    old, _, new = fake.tasks
    assert (old.run.model, old.parameters["max_sentence_silence"], "language_hints" in old.parameters) == (
        "fun-asr-realtime",
        6000,
        False,
    )
    assert (new.run.model, new.parameters["max_sentence_silence"]) == ("fun-asr-realtime-2025-11-07", 400)
    assert (new.parameters["language_hints"], new.parameters["vocabulary_id"]) == (["en"], "vocab-travel")
    sent = len(first.pcm) + 2 * len(SILENCE) + len(two_sentences)
    assert sum(task.audio_bytes for task in fake.tasks) == sent, "no audio lost around the change"


async def test_model_change_to_another_sample_rate_is_refused_and_recognition_goes_on() -> None:
    speech = load_speech("s2")
    fake = FakeFunAsr([speech.text])
    stt = service(fake)
    frames = [
        STTUpdateSettingsFrame(delta=FunAsrRealtimeSTTService.Settings(model="fun-asr-flash-8k-realtime")),
        *audio(speech.pcm),
        vad_stop(),
        SleepFrame(0.3),
    ]
    down, up = await run(stt, frames)
    [error] = errors(up)
    assert error.category is ErrorCategory.APPLICATION
    assert "8000 Hz" in error.error
    assert stt.settings.model == "fun-asr-realtime", "the refused change is reverted"
    assert stt.is_usable
    assert [t.text for t in transcripts(down)] == [speech.text]
    assert [(t.run.model, t.parameters["sample_rate"]) for t in fake.tasks] == [("fun-asr-realtime", 16000)]


async def test_new_settings_bring_a_failed_service_back() -> None:
    speech = load_speech("s6")
    fake = FakeFunAsr([speech.text])
    fake.transport.refuse(fr.HandshakeRejected(401), count=1)  # the pre-warm is refused, later opens pass
    stt = service(fake)
    update = FunAsrRealtimeSTTService.Settings(vocabulary_id="vocab-new")
    frames = [
        SleepFrame(0.1),
        *audio(speech.pcm),  # dropped: the service is unusable
        STTUpdateSettingsFrame(delta=update),
        SleepFrame(0.1),
        *audio(speech.pcm),
        vad_stop(),
        SleepFrame(0.3),
    ]
    down, up = await run(stt, frames)
    assert [e.category for e in errors(up)] == [ErrorCategory.AUTHENTICATION]
    assert stt.is_usable
    assert [t.text for t in transcripts(down)] == [speech.text]
    [task] = fake.tasks
    assert (task.parameters["vocabulary_id"], task.audio_bytes) == ("vocab-new", len(speech.pcm))


# --------------------------------------------------------------------------- errors


PERMANENT: dict[str, tuple[Callable[[], CountingTransport], ErrorCategory]] = {
    # where the error comes from: (the transport, expected category)
    "handshake-401": (lambda: refusing(fr.HandshakeRejected(401)), ErrorCategory.AUTHENTICATION),
    # a task longer than the server allows: task-failed InvalidParameter mid-utterance
    "task-failed": (lambda: CountingTransport(recognizer(max_task_audio_s=1.0)), ErrorCategory.INVALID_REQUEST),
}


def refusing(error: fr.FunAsrError) -> CountingTransport:
    """A transport that refuses every open with ``error``."""
    transport = FakeFunAsr().transport
    transport.refuse(error, count=100)
    return transport


@pytest.mark.parametrize("where", list(PERMANENT))
async def test_permanent_error_gives_exactly_one_fatal_error_frame(where: str) -> None:
    """(The local server's own 401, through the loopback, is in ``test_stt.py``.)"""
    make, category = PERMANENT[where]
    transport = make()
    speech = load_speech("s3")
    stt = FunAsrRealtimeSTTService(transport=transport, api_key="wrong", resilience=FAST)
    frames = [*realtime(speech.pcm, speed=8), vad_stop(), SleepFrame(0.2), *audio(speech.pcm), vad_stop()]
    down, up = await run(stt, [*frames, SleepFrame(0.3)])
    [error] = errors(up)
    assert error.category is category
    assert not stt.is_usable, "a ServiceSwitcher can fail over"
    assert "wrong" not in error.error, "the key never shows"
    assert transport.opens <= 2 and len(transport.run_tasks) <= 1, "no retry after a permanent error"
    assert not transcripts(down)
    assert transport.errors == []


async def test_transient_failures_are_retried_with_backoff_then_reported_once() -> None:
    speech = load_speech("s4")
    transport = refusing(fr.HandshakeRejected(503))
    resilience = fr.Resilience(max_retries=3, backoff_initial=0.05, backoff_max=0.1, standby=False)
    stt = FunAsrRealtimeSTTService(transport=transport, resilience=resilience)
    _, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.6), *audio(speech.pcm)])
    [error] = errors(up)
    assert error.category is ErrorCategory.SERVER
    assert not stt.is_usable
    assert transport.opens == 1 + 4, "the pre-warm, then the first try and 3 retries"


# --------------------------------------------------------------------------- transcripts


class _SpeakChinese:
    """A local-server engine that 'recognizes' a fixed Chinese sentence (the real engine is English)."""

    name = "scripted-zh"
    synthetic = False  # no "[synthetic]" marker: the text itself is what is under test

    def new_utterance(self) -> _SpeakChinese:
        return self

    def feed(self, pcm16k: bytes) -> str:
        return "今天天气"

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        return "今天天气很好。", [("今天", 0, 400), ("天气", 400, 800), ("很好", 800, 1200)]

    def close(self) -> None:
        pass


async def test_chinese_transcripts_are_never_joined_with_spaces() -> None:
    """The local server's task handling with an engine of its own, in memory."""
    speech = load_speech("s1")
    transport = CountingTransport(recognizer(_SpeakChinese()))
    stt = FunAsrRealtimeSTTService(transport=transport, language=Language.ZH_CN)
    down, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.3)])
    assert not errors(up)
    [final] = transcripts(down)
    assert (final.text, final.language, final.finalized) == ("今天天气很好。", Language.ZH, True)
    assert final.includes_inter_frame_spaces, "the user aggregator must not insert spaces"
    assert all(f.includes_inter_frame_spaces for f in of_type(down, InterimTranscriptionFrame))
    assert settings(stt).language == "zh"
    assert transport.run_tasks[0].parameters["language_hints"] == ["zh"]


# --------------------------------------------------------------------------- construction (no stream)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "fun-asr-flash-8k-realtime", "region": "intl"}, "not served in region 'intl'"),
        ({"language": Language.KO}, "does not support language 'ko'"),
        ({"audio_sample_rate": 8000}, "accepts 16000 Hz audio, not 8000 Hz"),
        ({"url": "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"}, "no API key"),
    ],
)
def test_mismatches_are_clear_errors_at_construction(options: dict[str, object], message: str) -> None:
    options = {"api_key": "sk-test", **options} if "url" not in options else options
    with pytest.raises(fr.ConfigurationError, match=message):
        FunAsrRealtimeSTTService(**options)  # type: ignore[arg-type]


def test_language_map_gives_fun_asr_base_codes() -> None:
    stt = FunAsrRealtimeSTTService(url="ws://127.0.0.1:1/api-ws/v1/inference")
    assert [stt.language_to_service_language(lang) for lang in (Language.ZH_TW, Language.EN_GB, Language.JA_JP)] == [
        "zh",
        "en",
        "ja",
    ]
    with pytest.raises(ValueError, match="endpointing"):
        FunAsrRealtimeSTTService(url="ws://127.0.0.1:1/api-ws/v1/inference", endpointing="turns")  # type: ignore[arg-type]
