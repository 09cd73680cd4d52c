"""FunAsrRealtimeSTTService inside Pipecat pipelines, against the real local server.

Every test runs a real ``PipelineWorker`` through ``pipecat.tests.utils.run_test`` and the
pocketsphinx server restricted to the fixture sentences (exact transcripts); faults come
from the FaultProxy, never from patching.
"""

from __future__ import annotations

import time

import pytest
from pipecat.frames.frames import (
    CancelFrame,
    InputAudioRawFrame,
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
from pipecat_funasr_realtime import FunAsrRealtimeSTTService, FunAsrSTTUsage
from pydantic import SecretStr

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import Fault, FaultProxy
from tests.conftest import GRAMMAR, load_speech

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
    resample,
    run,
    transcripts,
    ttfb,
    usage,
    vad_stop,
)

FAST = fr.Resilience(backoff_initial=0.05, backoff_max=0.2)
SILENCE = bytes(16000)  # 0.5 s at 16 kHz: a live microphone between turns


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


async def test_vad_stop_finalizes_at_once_and_measures_ttfb_from_it(grammar_server: ServerThread) -> None:
    """Audio at 4x real time (the server keeps up, as with a live microphone); the VAD stop
    ends the task, so the transcript does not wait for the server's 1.3 s of silence."""
    speech = load_speech("s2")
    before, after = Clock(), Clock()
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    frames = [VADUserStartedSpeakingFrame(), *realtime(speech.pcm), vad_stop(), SleepFrame(0.8)]
    down, up = await run([before, stt, after], frames)

    assert not errors(up)
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)
    latency = after.first(TranscriptionFrame) - before.first(VADUserStoppedSpeakingFrame)
    print(f"\nVAD stop -> finalized transcript: {latency * 1000:.0f} ms")
    assert latency < 0.5
    [measured] = ttfb(down)
    assert measured == pytest.approx(latency + STOP_SECS, abs=0.1), "TTFB runs from the end of speech"
    [flush] = processing(down)
    assert flush <= latency


async def test_vad_stop_arriving_upstream_finalizes_too(grammar_server: ServerThread) -> None:
    """With the VAD in the user aggregator (after the STT) the stop reaches the STT upstream."""
    speech = load_speech("s3")
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    frames = [*audio(speech.pcm), Upstream(frame=vad_stop()), SleepFrame(0.8)]
    down, up = await run([stt, Reflector()], frames)
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)
    assert of_type(up, VADUserStoppedSpeakingFrame), "the VAD frame travels on upstream"


async def test_a_late_answer_marks_only_the_transcript_of_its_own_finalize(grammar_server: ServerThread) -> None:
    """The user speaks again before the first finalize is answered (slow network): the first
    transcript still comes, unmarked (its turn is over, as Pipecat's base class has it), and
    only the second, answering the standing request, is marked finalized."""
    first, second = load_speech("s1"), load_speech("s2")
    async with FaultProxy(grammar_server.url, latency=0.2) as proxy:
        stt = FunAsrRealtimeSTTService(url=proxy.url)
        frames = [
            VADUserStartedSpeakingFrame(),
            *audio(first.pcm),
            vad_stop(),
            VADUserStartedSpeakingFrame(),
            *audio(second.pcm),
            vad_stop(),
            SleepFrame(1.5),
        ]
        down, up = await run(stt, frames)
    assert not errors(up)
    assert [(t.text, t.finalized) for t in transcripts(down)] == [(first.text, False), (second.text, True)]


async def test_interruption_does_not_stop_recognition(grammar_server: ServerThread) -> None:
    speech = load_speech("s4")
    half = len(speech.pcm) // 4 * 2
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    frames = [*audio(speech.pcm[:half]), InterruptionFrame(), *audio(speech.pcm[half:]), vad_stop(), SleepFrame(0.8)]
    down, up = await run(stt, frames)
    assert not errors(up)
    assert [t.text for t in transcripts(down)] == [speech.text]


async def test_end_frame_right_after_speech_keeps_the_last_words(grammar_server: ServerThread) -> None:
    speech = load_speech("s5")
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    down, up = await run(stt, audio(speech.pcm))  # run_test sends the EndFrame at once
    assert not errors(up)
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)


async def test_cancel_frame_aborts_without_waiting(grammar_server: ServerThread) -> None:
    speech = load_speech("s6")
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    started = time.monotonic()
    down, up = await run(stt, [*audio(speech.pcm), CancelFrame()], send_end_frame=False)
    assert time.monotonic() - started < 2.0
    assert not transcripts(down)
    assert not errors(up)
    assert stt.stream is None


async def test_metadata_publishes_the_latency_hint(grammar_server: ServerThread) -> None:
    stt = FunAsrRealtimeSTTService(url=grammar_server.url, ttfs_p99_latency=0.42)
    down, _ = await run(stt, [SleepFrame(0.05)])
    [metadata] = of_type(down, STTMetadataFrame)
    assert metadata.ttfs_p99_latency == 0.42
    assert metadata.user_turn_strategies is None  # Pipecat's VAD owns turns


async def test_connection_is_prewarmed_before_any_audio(grammar_server: ServerThread) -> None:
    async with FaultProxy(grammar_server.url) as proxy:
        stt = FunAsrRealtimeSTTService(url=proxy.url)
        connected: list[bool] = []

        @stt.event_handler("on_connected")
        async def on_connected(service: FunAsrRealtimeSTTService) -> None:
            connected.append(proxy.connections >= 1)

        await run(stt, [SleepFrame(0.1)])
    assert connected == [True]
    assert proxy.run_tasks == 0, "pre-warming opens a connection, not a task"


async def test_mute_of_any_length_keeps_the_session() -> None:
    """The server fails a task after 1 s without audio (the service: 23 s); the core
    finishes idle tasks first, so a long mute costs nothing and speech after it works."""
    before, after = load_speech("s1"), load_speech("s3")
    muted = load_speech("s2")
    with ServerThread(ServerConfig(grammar=GRAMMAR, client_timeout=1.0, idle_timeout=1.0)) as server:
        stt = FunAsrRealtimeSTTService(url=server.url, resilience=fr.Resilience(idle_finish=0.3))
        reconnects: list[fr.Reconnected] = []

        @stt.event_handler("on_reconnected")
        async def on_reconnected(service: FunAsrRealtimeSTTService, event: fr.Reconnected) -> None:
            reconnects.append(event)

        frames = [
            *audio(before.pcm),
            STTMuteFrame(mute=True),
            *audio(muted.pcm),  # not sent: the mute drops it
            SleepFrame(2.5),
            STTMuteFrame(mute=False),
            *audio(after.pcm),
            vad_stop(),
            SleepFrame(0.8),
        ]
        down, up = await run(stt, frames)
    assert not errors(up)
    assert not reconnects
    assert [t.text for t in transcripts(down)] == [before.text, after.text]
    assert transcripts(down)[-1].finalized


async def test_language_setting_maps_to_a_fun_asr_hint(grammar_server: ServerThread) -> None:
    speech = load_speech("s1")
    stt = FunAsrRealtimeSTTService(url=grammar_server.url, language=Language.EN_US)
    assert stt.settings.language == "en"
    down, _ = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.5)])
    [final] = transcripts(down)
    assert final.language is Language.EN


async def test_settings_change_mid_stream_applies_to_the_next_utterance(grammar_server: ServerThread) -> None:
    """Language and segmentation change between utterances while (silent) audio keeps
    flowing: the next utterance gets them (its 0.4 s sentence silence splits the two
    sentences the first task's 6 s would not), with no reconnect and no audio lost."""
    first = load_speech("s1")
    long = load_speech("long")
    two_sentences = long.pcm[: 6200 * 32]  # sentences 1 and 2 of the long recording, 1.5 s apart
    async with FaultProxy(grammar_server.url) as proxy:
        stt = FunAsrRealtimeSTTService(
            url=proxy.url, settings=FunAsrRealtimeSTTService.Settings(max_sentence_silence=6000)
        )
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
            *realtime(SILENCE + two_sentences, speed=8),
            vad_stop(),
            SleepFrame(0.8),
        ]
        down, up = await run(stt, frames)
    assert not errors(up)
    got = transcripts(down)
    assert [t.text for t in got] == [first.text, *long.texts[:2]]
    assert [t.finalized for t in got] == [True, False, True], "the server split the second utterance itself"
    assert [t.language for t in got] == [None, Language.EN, Language.EN]
    assert (stt.settings.max_sentence_silence, stt.settings.vocabulary_id) == (400, "vocab-travel")
    assert metrics(down, STTUsageMetricsData)[-1].model == "fun-asr-realtime-2025-11-07"
    assert proxy.run_tasks == 3, "utterance, silence until the change, utterance"
    assert proxy.connections <= 3, "no reconnect: the pre-warmed connection and the standby"


async def test_model_change_to_another_sample_rate_is_refused_and_recognition_goes_on(
    grammar_server: ServerThread,
) -> None:
    speech = load_speech("s2")
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    frames = [
        STTUpdateSettingsFrame(delta=FunAsrRealtimeSTTService.Settings(model="fun-asr-flash-8k-realtime")),
        *audio(speech.pcm),
        vad_stop(),
        SleepFrame(0.6),
    ]
    down, up = await run(stt, frames)
    [error] = errors(up)
    assert error.category is ErrorCategory.APPLICATION
    assert "8000 Hz" in error.error
    assert stt.settings.model == "fun-asr-realtime", "the refused change is reverted"
    assert stt.is_usable
    assert [t.text for t in transcripts(down)] == [speech.text]


async def test_dropped_connection_mid_utterance_still_gives_the_whole_transcript(
    grammar_server: ServerThread,
) -> None:
    speech = load_speech("s1")
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.fail_after(client_bytes=len(speech.pcm) // 2)  # reset halfway through the sentence
        stt = FunAsrRealtimeSTTService(url=proxy.url, resilience=FAST)
        reconnects: list[fr.Reconnected] = []

        @stt.event_handler("on_reconnected")
        async def on_reconnected(service: FunAsrRealtimeSTTService, event: fr.Reconnected) -> None:
            reconnects.append(event)

        down, up = await run(stt, [*realtime(speech.pcm, speed=8), vad_stop(), SleepFrame(1.0)])
    assert not errors(up), "recovered without audio loss: nothing to report"
    [final] = transcripts(down)
    assert (final.text, final.finalized) == (speech.text, True)
    [reconnect] = reconnects
    assert reconnect.dropped_ms == 0 and reconnect.replayed_ms > 0
    assert proxy.run_tasks == 2


PERMANENT = {
    # where the error comes from: (server config, proxy 401s, expected category)
    "handshake-401": (ServerConfig(grammar=GRAMMAR), True, ErrorCategory.AUTHENTICATION),
    "server-bad-key": (ServerConfig(grammar=GRAMMAR, api_key=SecretStr("right")), False, ErrorCategory.AUTHENTICATION),
    # a task longer than the server allows: task-failed InvalidParameter mid-utterance
    "task-failed": (ServerConfig(grammar=GRAMMAR, max_task_audio_s=1.0), False, ErrorCategory.INVALID_REQUEST),
}


@pytest.mark.parametrize("where", list(PERMANENT))
async def test_permanent_error_gives_exactly_one_fatal_error_frame(where: str) -> None:
    config, reject, category = PERMANENT[where]
    speech = load_speech("s3")
    with ServerThread(config) as server:
        async with FaultProxy(server.url) as proxy:
            if reject:
                proxy.reject_handshakes(401, count=100)
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


async def test_transient_failures_are_retried_with_backoff_then_reported_once(grammar_server: ServerThread) -> None:
    speech = load_speech("s4")
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(503, count=100)
        resilience = fr.Resilience(max_retries=3, backoff_initial=0.05, backoff_max=0.1, standby=False)
        stt = FunAsrRealtimeSTTService(url=proxy.url, resilience=resilience)
        _, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(1.0), *audio(speech.pcm)])
        attempts = proxy.connections
    [error] = errors(up)
    assert error.category is ErrorCategory.SERVER
    assert not stt.is_usable
    assert attempts == 1 + 4, "the pre-warm, then the first try and 3 retries"


async def test_server_endpointing_turns_each_sentence_end_into_a_proposed_turn(grammar_server: ServerThread) -> None:
    """Fun-ASR's own sentence end (0.6 s of silence) produces the finals; a VAD stop in
    the middle of a sentence does not cut it."""
    long = load_speech("long")
    three = long.pcm[: 11000 * 32]  # three sentences with 1.5 s pauses, then 1.4 s of silence
    stt = FunAsrRealtimeSTTService(
        url=grammar_server.url,
        endpointing="server",
        settings=FunAsrRealtimeSTTService.Settings(max_sentence_silence=600),
    )
    chunks = realtime(three, speed=8)
    frames = [*chunks[:20], VADUserStoppedSpeakingFrame(stop_secs=STOP_SECS), *chunks[20:], SleepFrame(0.6)]
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
    speech = load_speech("s1")
    with ServerThread(ServerConfig(), engine=_SpeakChinese()) as server:
        stt = FunAsrRealtimeSTTService(url=server.url, language=Language.ZH_CN)
        down, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.5)])
    assert not errors(up)
    [final] = transcripts(down)
    assert (final.text, final.language, final.finalized) == ("今天天气很好。", Language.ZH, True)
    assert final.includes_inter_frame_spaces, "the user aggregator must not insert spaces"
    assert all(f.includes_inter_frame_spaces for f in of_type(down, InterimTranscriptionFrame))
    assert stt.settings.language == "zh"


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


async def test_new_settings_bring_a_failed_service_back(grammar_server: ServerThread) -> None:
    speech = load_speech("s6")
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(401, count=1)  # the pre-warm is refused, later handshakes pass
        stt = FunAsrRealtimeSTTService(url=proxy.url)
        update = FunAsrRealtimeSTTService.Settings(vocabulary_id="vocab-new")
        frames = [
            SleepFrame(0.1),
            *audio(speech.pcm),  # dropped: the service is unusable
            STTUpdateSettingsFrame(delta=update),
            SleepFrame(0.1),
            *audio(speech.pcm),
            vad_stop(),
            SleepFrame(0.6),
        ]
        down, up = await run(stt, frames)
    assert [e.category for e in errors(up)] == [ErrorCategory.AUTHENTICATION]
    assert stt.is_usable
    assert [t.text for t in transcripts(down)] == [speech.text]


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
