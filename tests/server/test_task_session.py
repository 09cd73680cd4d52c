"""TaskRecognizer: run-task validation and the sentences it makes from real fixture audio."""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import GRAMMAR, SPEECH, chunks, load_speech

from funasr_realtime.server.engines import Engine, create_engine
from funasr_realtime.server.engines._heap import trim_heap
from funasr_realtime.server.engines.pocketsphinx import PocketsphinxEngine
from funasr_realtime.server.task import TaskRecognizer, TaskRejected, TaskResult

HEARTBEAT_MS = 2000


@pytest.fixture(scope="module")
def engine() -> Engine:
    return create_engine("pocketsphinx", grammar=GRAMMAR)


@pytest.fixture
def make(engine: Engine) -> Iterator[Any]:
    """``make(model, **parameters)`` → a TaskRecognizer, closed after the test."""
    sessions: list[TaskRecognizer] = []

    def factory(model: str = "fun-asr-realtime", *, max_audio_s: float = 3600.0, **parameters: Any) -> TaskRecognizer:
        parameters.setdefault("sample_rate", 16000)
        parameters.setdefault("format", "pcm")
        session = TaskRecognizer.create(
            model, parameters, engine, heartbeat_interval_ms=HEARTBEAT_MS, max_audio_s=max_audio_s
        )
        sessions.append(session)
        return session

    yield factory
    for session in sessions:
        session.close()


def run(session: TaskRecognizer, frames: Iterator[bytes]) -> list[TaskResult]:
    results: list[TaskResult] = []
    for frame in frames:
        results += session.feed(frame)
    return results + session.finish()


def final_texts(results: list[TaskResult]) -> list[str]:
    return [r.sentence.text for r in results if r.sentence.sentence_end]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("model", "parameters", "code"),
    [
        ("no-such-model", {}, "ModelNotFound"),
        ("fun-asr-realtimeX", {}, "ModelNotFound"),
        ("fun-asr-realtime", {"sample_rate": 8000}, "InvalidParameter"),
        ("fun-asr-flash-8k-realtime", {"sample_rate": 16000}, "InvalidParameter"),
        ("fun-asr-realtime", {"max_sentence_silence": 50}, "InvalidParameter"),
        ("fun-asr-realtime", {"max_sentence_silence": 7000}, "InvalidParameter"),
        ("fun-asr-realtime", {"speech_noise_threshold": 2.0}, "InvalidParameter"),
        ("fun-asr-realtime", {"heartbeat": "sometimes"}, "InvalidParameter"),
        ("fun-asr-realtime", {"sample_rate": -1}, "InvalidParameter"),
        ("fun-asr-realtime", {"format": "flac"}, "InvalidParameter"),
        ("fun-asr-flash-8k-realtime", {"sample_rate": 8000, "language_hints": ["en"]}, "InvalidParameter"),
        ("paraformer-realtime-v2", {"sample_rate": 44100}, "InvalidParameter"),
    ],
)
def test_create_rejects(engine: Engine, model: str, parameters: dict[str, Any], code: str) -> None:
    full = {"sample_rate": 16000, "format": "pcm", **parameters}
    with pytest.raises(TaskRejected) as info:
        TaskRecognizer.create(model, full, engine, heartbeat_interval_ms=HEARTBEAT_MS, max_audio_s=60)
    assert info.value.code == code
    assert info.value.message


def test_rejection_messages_name_the_problem(engine: Engine) -> None:
    def reject(model: str, **parameters: Any) -> str:
        full = {"sample_rate": 16000, "format": "pcm", **parameters}
        with pytest.raises(TaskRejected) as info:
            TaskRecognizer.create(model, full, engine, heartbeat_interval_ms=HEARTBEAT_MS, max_audio_s=60)
        return info.value.message

    assert "nope" in reject("nope")
    assert "16000" in reject("fun-asr-realtime", sample_rate=8000)
    assert "max_sentence_silence" in reject("fun-asr-realtime", max_sentence_silence=50)
    assert "format" in reject("fun-asr-realtime", format="flac")


@pytest.mark.parametrize(
    ("model", "rate"),
    [
        ("fun-asr-realtime", 16000),
        ("fun-asr-realtime-2025-11-07", 16000),
        ("fun-asr-realtime-2099-01-01", 16000),  # an unknown snapshot inherits its family
        ("fun-asr-flash-8k-realtime", 8000),
        ("paraformer-realtime-8k-v2", 8000),
        ("paraformer-realtime-v2", 8000),
        ("paraformer-realtime-v2", 16000),
    ],
)
def test_create_accepts(make: Any, model: str, rate: int) -> None:
    session = make(model, sample_rate=rate)
    assert session.params.model == model
    assert session.params.sample_rate == rate
    assert session.audio_ms == 0
    assert session.billed_seconds == 0


def test_unknown_parameters_are_accepted_as_extra(make: Any) -> None:
    session = make(some_future_option=True, heartbeat=True, language_hints=["en"])
    assert session.params.extra == {"some_future_option": True}
    assert session.params.heartbeat is True
    assert session.params.language_hints == ("en",)


# --------------------------------------------------------------------------- recognition


def test_s1_partials_then_one_final(make: Any) -> None:
    s1 = load_speech("s1")
    session = make()
    results = run(session, chunks(s1.pcm, 3200))
    assert final_texts(results) == [s1.text]
    assert results[-1].sentence.sentence_end
    partials = results[:-1]
    assert partials
    for result in partials:
        assert result.usage is None
        assert result.sentence.sentence_end is False
        assert result.sentence.end_time is None
        assert result.sentence.sentence_id == 1
    final = results[-1]
    assert final.sentence.sentence_id == 1
    assert final.sentence.heartbeat is False
    assert final.usage is not None
    assert final.usage.duration == math.ceil(s1.duration_ms / 1000)
    assert final.sentence.end_time is not None
    for word in final.sentence.words:
        assert final.sentence.begin_time <= word.begin_time <= word.end_time <= final.sentence.end_time
    assert session.audio_ms == s1.duration_ms
    assert session.billed_seconds == 3


def test_long_sentence_ids_and_cumulative_usage(make: Any) -> None:
    long = load_speech("long")
    session = make()
    results = run(session, chunks(long.pcm, 3200))
    finals = [r for r in results if r.sentence.sentence_end]
    assert [r.sentence.text for r in finals] == list(long.texts)
    assert [r.sentence.sentence_id for r in finals] == [1, 2, 3, 4, 5, 6]
    # Every result carries the id of the sentence it belongs to, in order.
    ids = [r.sentence.sentence_id for r in results]
    assert ids == sorted(ids)
    assert all(r.usage is None for r in results if not r.sentence.sentence_end)
    durations = [r.usage.duration for r in finals if r.usage is not None]
    assert len(durations) == 6
    assert durations == sorted(durations)
    for final in finals:
        assert final.usage is not None
        assert final.sentence.end_time is not None
        assert final.usage.duration >= math.ceil(final.sentence.end_time / 1000)
    assert durations[-1] == session.billed_seconds == math.ceil(long.duration_ms / 1000)


@pytest.mark.parametrize("size", [3201, 1001, 77])
def test_odd_sized_pcm_frames(make: Any, size: int) -> None:
    s4 = load_speech("s4")
    session = make()
    results = run(session, chunks(s4.pcm, size))
    assert final_texts(results) == [s4.text]


@pytest.mark.parametrize("model", ["fun-asr-flash-8k-realtime", "paraformer-realtime-8k-v2"])
def test_8k_audio_is_resampled(make: Any, model: str) -> None:
    s2 = load_speech("s2", 8000)
    session = make(model, sample_rate=8000)
    results = run(session, chunks(s2.pcm, 1600))
    assert final_texts(results) == [s2.text]
    # Times and billing are in milliseconds of the audio, whatever its rate.
    assert abs(session.audio_ms - s2.duration_ms) <= 2
    assert session.billed_seconds == math.ceil(s2.duration_ms / 1000)


@pytest.mark.parametrize("size", [12800, 1001, 7])
def test_wav_header_is_stripped(make: Any, size: int) -> None:
    s5 = load_speech("s5")
    session = make(format="wav")
    results = run(session, chunks(s5.path.read_bytes(), size))
    assert final_texts(results) == [s5.text]
    assert session.audio_ms == s5.duration_ms


def test_wav_8k_file_at_8k(make: Any) -> None:
    s6 = load_speech("s6", 8000)
    session = make("fun-asr-flash-8k-realtime", sample_rate=8000, format="wav")
    results = run(session, chunks(s6.path.read_bytes(), 6400))
    assert final_texts(results) == [s6.text]


def test_wav_rate_mismatch_is_no_valid_audio(make: Any) -> None:
    session = make(format="wav", sample_rate=16000)
    with pytest.raises(TaskRejected) as info:
        run(session, chunks((SPEECH / "s1_8k.wav").read_bytes(), 12800))
    assert info.value.code == "NO_VALID_AUDIO_ERROR"
    assert "8000" in info.value.message


def test_not_a_wav_is_no_valid_audio(make: Any) -> None:
    session = make(format="wav")
    with pytest.raises(TaskRejected) as info:
        session.feed(b"ID3\x04" + b"\x00" * 3196)
    assert info.value.code == "NO_VALID_AUDIO_ERROR"


def test_task_audio_limit(make: Any) -> None:
    session = make(max_audio_s=1.0)
    session.feed(b"\x00" * 32000)  # exactly 1 s is allowed
    with pytest.raises(TaskRejected) as info:
        session.feed(b"\x00" * 3200)
    assert info.value.code == "InvalidParameter"


# --------------------------------------------------------------------------- heartbeat and billing


@pytest.mark.parametrize(("heartbeat", "expected"), [(True, 2), (False, 0), (None, 0)])
def test_heartbeat_on_silence(make: Any, heartbeat: bool | None, expected: int) -> None:
    parameters = {} if heartbeat is None else {"heartbeat": heartbeat}
    session = make(**parameters)
    silence = b"\x00" * (4 * 32000)  # 4 s
    results = run(session, chunks(silence, 3200))
    beats = [r for r in results if r.sentence.heartbeat]
    assert len(beats) == expected
    assert len(results) == expected  # silence: nothing but heartbeats
    for beat in beats:
        assert beat.usage is None
        assert beat.sentence.sentence_end is False
        assert beat.sentence.end_time is None
        assert beat.sentence.text == ""
    assert [b.sentence.begin_time for b in beats] == [HEARTBEAT_MS * (i + 1) for i in range(expected)]


def test_no_heartbeat_while_results_flow(make: Any) -> None:
    long = load_speech("long")
    session = make(heartbeat=True)
    results = run(session, chunks(long.pcm, 3200))
    # The long recording's pauses (1.5 s) are shorter than the heartbeat interval.
    assert [r for r in results if r.sentence.heartbeat] == []
    assert final_texts(results) == list(long.texts)


@pytest.mark.parametrize(
    ("audio_ms", "billed"), [(0, 0), (100, 1), (999, 1), (1000, 1), (1001, 2), (2000, 2), (2500, 3)]
)
def test_billed_seconds_round_up(make: Any, audio_ms: int, billed: int) -> None:
    session = make()
    silence = b"\x00" * (audio_ms * 32)
    for frame in chunks(silence, 3200):
        session.feed(frame)
    session.finish()
    assert session.audio_ms == audio_ms
    assert session.billed_seconds == billed


def test_synthetic_engine_marks_finals() -> None:
    s3 = load_speech("s3")
    synthetic = create_engine("synthetic")
    session = TaskRecognizer.create(
        "fun-asr-realtime",
        {"sample_rate": 16000, "format": "pcm"},
        synthetic,
        heartbeat_interval_ms=HEARTBEAT_MS,
        max_audio_s=60,
    )
    try:
        results = run(session, chunks(s3.pcm, 3200))
    finally:
        session.close()
    texts = final_texts(results)
    assert texts
    assert all(text.startswith("[synthetic]") for text in texts)


# --------------------------------------------------------------------------- resources


def test_close_mid_sentence_returns_the_decoder_and_frees_the_vad(make: Any, engine: Engine) -> None:
    assert isinstance(engine, PocketsphinxEngine)
    idle = engine.idle_decoders
    session = make()
    for frame in chunks(load_speech("s1").pcm[:48000]):
        session.feed(frame)
    assert engine.idle_decoders == idle - 1  # the open sentence holds one
    session.close()
    session.close()  # idempotent
    assert engine.idle_decoders == idle
    with pytest.raises(RuntimeError):
        session.feed(bytes(3200))


def test_heap_trim_runs_on_glibc() -> None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    assert trim_heap() is True
