"""Per-task transcription: Silero VAD segmentation driving real engines (server/transcriber.py)."""

from __future__ import annotations

import itertools
import json
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from funasr_realtime.server.audio import Resampler
from funasr_realtime.server.engines import Engine, Hypothesis
from funasr_realtime.server.engines.pocketsphinx import PocketsphinxEngine
from funasr_realtime.server.engines.synthetic import MARKER, SyntheticEngine
from funasr_realtime.server.transcriber import Transcriber
from funasr_realtime.server.vad import SpeechAudio, SpeechEnd, SpeechStart, VoiceActivity

SPEECH = Path(__file__).parent.parent / "fixtures" / "speech"
TRANSCRIPTS = json.loads((SPEECH / "transcripts.json").read_text())
SPANS: list[list[int]] = TRANSCRIPTS["long_spans_ms"]
BYTES_PER_MS = 32


def pcm16k(name: str) -> bytes:
    with wave.open(str(SPEECH / f"{name}.wav")) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    resampler = Resampler(rate)
    return resampler.feed(pcm) + resampler.flush()


def packets(pcm: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(pcm), size):
        yield pcm[i : i + size]


def run(engine: Engine, pcm: bytes, size: int = 3200, **options: int) -> list[tuple[int, Hypothesis]]:
    """Feed ``pcm`` in ``size``-byte packets; each hypothesis with the audio ms fed when it came out."""
    transcriber = Transcriber(engine, **options)
    out: list[tuple[int, Hypothesis]] = []
    try:
        for packet in packets(pcm, size):
            out += [(transcriber.audio_ms, h) for h in transcriber.feed(packet)]
        out += [(transcriber.audio_ms, h) for h in transcriber.finish()]
        assert transcriber.audio_ms == len(pcm) // BYTES_PER_MS
    finally:
        transcriber.close()
    return out


def finals(results: list[tuple[int, Hypothesis]]) -> list[Hypothesis]:
    return [h for _, h in results if h.final]


@pytest.fixture(scope="module")
def grammar_engine() -> PocketsphinxEngine:
    return PocketsphinxEngine(SPEECH / "sentences.jsgf", max_idle=2)


# --- real recognition on the long recording -------------------------------------


@pytest.mark.parametrize("rate", ["16k", "8k"])
def test_long_recording_gives_six_exact_sentences_in_place(grammar_engine: PocketsphinxEngine, rate: str) -> None:
    results = run(grammar_engine, pcm16k(f"long_{rate}"))
    sentences = finals(results)
    assert [h.text for h in sentences] == TRANSCRIPTS["long"]
    assert [h.sentence_index for h in sentences] == list(range(6))
    for hypothesis, (begin, end) in zip(sentences, SPANS, strict=True):
        assert hypothesis.end_ms is not None
        assert abs(hypothesis.begin_ms - begin) <= 100, (hypothesis, begin)
        assert -100 <= hypothesis.end_ms - end <= 200, (hypothesis, end)
        assert [w.text for w in hypothesis.words] == hypothesis.text.split()
        times = [t for w in hypothesis.words for t in (w.begin_ms, w.end_ms)]
        assert times == sorted(times)
        assert hypothesis.begin_ms <= times[0] and times[-1] <= hypothesis.end_ms


def test_finals_arrive_after_the_pause_not_at_the_end(grammar_engine: PocketsphinxEngine) -> None:
    results = run(grammar_engine, pcm16k("long_16k"))
    emitted_at = [at for at, h in results if h.final]
    for at, (_, end) in zip(emitted_at[:-1], SPANS, strict=False):
        # VAD hangover (1300 ms of non-speech) plus at most one packet.
        assert end + 1300 <= at <= end + 1300 + 300


def test_partials_precede_their_final_and_share_its_begin(grammar_engine: PocketsphinxEngine) -> None:
    results = run(grammar_engine, pcm16k("long_16k"), size=320, partial_interval_ms=200)
    for sentence in finals(results):
        partials = [(at, h) for at, h in results if not h.final and h.sentence_index == sentence.sentence_index]
        assert partials, f"no partial for sentence {sentence.sentence_index}"
        assert all(h.begin_ms == sentence.begin_ms and h.end_ms is None and h.words == () for _, h in partials)
        assert all(h.text for _, h in partials)
        texts = [h.text for _, h in partials]
        assert all(a != b for a, b in itertools.pairwise(texts)), "repeated partial text"
        times = [at for at, _ in partials]
        assert all(b - a >= 200 for a, b in itertools.pairwise(times)), times
    order = [h.sentence_index for _, h in results]
    assert order == sorted(order)


def test_results_do_not_depend_on_packet_size(grammar_engine: PocketsphinxEngine) -> None:
    pcm = pcm16k("long_16k")
    reference = finals(run(grammar_engine, pcm, size=len(pcm)))
    for size in (333, 3200, 16001):
        assert finals(run(grammar_engine, pcm, size=size)) == reference


@pytest.mark.parametrize("name", [f"s{i}" for i in range(1, 7)])
def test_a_sentence_that_runs_to_the_end_of_audio_is_finished(grammar_engine: PocketsphinxEngine, name: str) -> None:
    # The single-sentence files end 300 ms after the speech: the final comes from finish().
    results = run(grammar_engine, pcm16k(f"{name}_8k"))
    [(at, sentence)] = [(at, h) for at, h in results if h.final]
    assert sentence.text == TRANSCRIPTS[name]
    assert at == len(pcm16k(f"{name}_8k")) // BYTES_PER_MS


def test_general_model_finds_the_same_six_sentences() -> None:
    sentences = finals(run(PocketsphinxEngine(), pcm16k("long_16k")))
    assert len(sentences) == 6
    # The general LM is not exact, but the easy sentences come out right.
    assert sentences[2].text == TRANSCRIPTS["long"][2]
    assert sentences[5].text == TRANSCRIPTS["long"][5]


# --- segmentation options, on the cheap synthetic engine -------------------------


def test_pauses_shorter_than_max_sentence_silence_join_sentences() -> None:
    pcm = pcm16k("long_16k")
    assert len(finals(run(SyntheticEngine(), pcm))) == 6
    assert len(finals(run(SyntheticEngine(), pcm, max_sentence_silence_ms=300))) == 6
    [joined] = finals(run(SyntheticEngine(), pcm, max_sentence_silence_ms=2000))
    assert joined.begin_ms == pytest.approx(SPANS[0][0], abs=100)
    assert joined.end_ms == pytest.approx(SPANS[-1][1], abs=200)


def test_synthetic_finals_are_marked_and_timed() -> None:
    sentences = finals(run(SyntheticEngine(), pcm16k("long_16k")))
    for sentence in sentences:
        assert sentence.text.startswith(MARKER + " ")
        assert sentence.end_ms is not None
        assert all(sentence.begin_ms <= w.begin_ms <= w.end_ms <= sentence.end_ms for w in sentence.words)


def test_long_speech_is_cut_at_max_sentence_ms() -> None:
    sentences = finals(run(SyntheticEngine(), pcm16k("s1_16k"), max_sentence_ms=1000))
    assert len(sentences) >= 2
    assert [h.sentence_index for h in sentences] == list(range(len(sentences)))
    for before, after in itertools.pairwise(sentences):
        assert before.end_ms is not None
        assert after.begin_ms >= before.end_ms - 32


def test_empty_finals_are_dropped_without_using_an_index() -> None:
    # 5 s per placeholder word: the 2-3 s sentences decode to nothing.
    silent_engine = SyntheticEngine(word_ms=5000)
    assert run(silent_engine, pcm16k("long_16k")) == []


def test_silence_produces_nothing() -> None:
    assert run(SyntheticEngine(), bytes(BYTES_PER_MS * 3000)) == []


# --- lifecycle ---------------------------------------------------------------------


def test_close_returns_the_open_utterance_and_feed_after_finish_raises() -> None:
    engine = PocketsphinxEngine(SPEECH / "sentences.jsgf", max_idle=1, preload=1)
    transcriber = Transcriber(engine)
    transcriber.feed(pcm16k("s1_16k")[: BYTES_PER_MS * 1200])  # mid-sentence
    assert engine.idle_decoders == 0
    transcriber.close()
    assert engine.idle_decoders == 1
    assert transcriber.finish() == []
    with pytest.raises(RuntimeError, match="after finish"):
        transcriber.feed(b"\0\0")


def test_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="partial_interval_ms"):
        Transcriber(SyntheticEngine(), partial_interval_ms=-1)
    with pytest.raises(ValueError, match="silence_ms"):
        Transcriber(SyntheticEngine(), max_sentence_silence_ms=0)


# --- the VAD on its own ----------------------------------------------------------


def test_vad_events_bracket_each_sentence_with_pre_roll() -> None:
    vad = VoiceActivity(silence_ms=1300, preroll_ms=300)
    pcm = pcm16k("long_16k")
    events = [e for packet in packets(pcm, 1000) for e in vad.feed(packet)] + vad.flush()
    starts = [e for e in events if isinstance(e, SpeechStart)]
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    assert len(starts) == len(ends) == 6
    for start, end, (begin, finish) in zip(starts, ends, SPANS, strict=True):
        assert abs(start.sample // 16 - begin) <= 64
        assert start.sample - start.preroll_sample == 300 * 16
        assert 0 <= end.sample // 16 - finish <= 200
    # Audio events are contiguous within a segment and start at the pre-roll.
    audio = [e for e in events if isinstance(e, SpeechAudio)]
    assert audio[0].sample == starts[0].preroll_sample
    assert vad.samples == len(pcm) // 2
    assert not vad.in_speech
