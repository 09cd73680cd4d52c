"""The sherpa-sensevoice engine on the tiny model: real sherpa-onnx loading and decoding.

The tiny model's text is known (see :mod:`tests.server.sherpa_offline.tiny_sense_voice`), so the
partials, the final, the CJK spacing and the word times are asserted exactly.
"""

# Chinese text here holds full-width punctuation (the full-width comma) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.server.sherpa_offline.tiny_sense_voice import SCRIPT_TEXT, TOKENS, script_tokens

from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.server.engines import create_engine
from funasr_realtime.server.engines._offline import Cadence, OfflineUtterance
from funasr_realtime.server.engines.sherpa_offline import SenseVoiceEngine
from funasr_realtime.text import tidy_spacing

BYTES_PER_MS = 32


def noise(ms: int, seed: int = 0) -> bytes:
    """Loud 16 kHz PCM: the tiny model emits a token every 300 ms of it."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(ms * 16) * 3000).astype(np.int16).tobytes()


def expected_text(pcm: bytes) -> str:
    return tidy_spacing("".join(TOKENS[i].replace("▁", " ") for i in script_tokens(len(pcm) // 2)))


def packets(pcm: bytes, ms: int = 100) -> list[bytes]:
    size = ms * BYTES_PER_MS
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def counting(engine: SenseVoiceEngine, cadence: Cadence | None = None) -> tuple[OfflineUtterance, list[int]]:
    """An utterance on ``engine`` that records the length (ms) of every segment it decodes."""
    decoded: list[int] = []

    def decode(pcm: bytes):  # type: ignore[no-untyped-def]
        decoded.append(len(pcm) // BYTES_PER_MS)
        return engine._decode(pcm)

    return OfflineUtterance(decode, cadence or engine.cadence), decoded


def test_final_text_and_words_are_exact(sense_voice: SenseVoiceEngine) -> None:
    utterance = sense_voice.new_utterance()
    for packet in packets(noise(4000)):
        utterance.feed(packet)
    text, words = utterance.end()
    utterance.close()
    # 4 s: one pass of the script (3 s) and three more tokens; tags gone, spacing tidied
    assert text == SCRIPT_TEXT + "你好 world，"
    assert text == expected_text(noise(4000))
    assert words == [
        ("你", 0, 300),
        ("好", 300, 600),
        ("world，", 600, 1100),  # punctuation joins its word; 500 ms per token at most
        ("我", 1200, 1500),
        ("们", 1500, 1800),
        ("Python", 1800, 2400),  # two tokens, one word
        ("写。", 2400, 2900),
        ("你", 3000, 3300),
        ("好", 3300, 3600),
        ("world，", 3600, 4000),  # never past the audio fed
    ]
    assert sense_voice.last_language == "zh"


def test_partials_re_decode_at_a_bounded_cadence(sense_voice: SenseVoiceEngine) -> None:
    utterance, decoded = counting(sense_voice)
    changes: list[tuple[int, str]] = []
    fed = 0
    for packet in packets(noise(4000)):
        fed += len(packet) // BYTES_PER_MS
        text = utterance.feed(packet)
        if not changes or changes[-1][1] != text:
            changes.append((fed, text))
    # every 800 ms, then every quarter of the segment (3200 ms -> 4000 ms)
    assert decoded == [800, 1600, 2400, 3200, 4000]
    pcm = noise(4000)
    assert changes == [(100, "")] + [(ms, expected_text(pcm[: ms * BYTES_PER_MS])) for ms in decoded]
    final, _ = utterance.end()
    assert decoded[-1] == 4000 and len(decoded) == 6  # the final decodes the whole segment once more
    assert all(final.startswith(text) for _, text in changes)


def test_no_partials_past_max_ms_but_the_final_decodes_everything(sense_voice: SenseVoiceEngine) -> None:
    utterance, decoded = counting(sense_voice, Cadence(interval_ms=500, growth=0.0, max_ms=1000))
    texts = [utterance.feed(packet) for packet in packets(noise(3000))]
    assert decoded == [500, 1000]
    assert texts[-1] == texts[9]  # the last partial stays once the segment is past max_ms
    text, _ = utterance.end()
    assert decoded[-1] == 3000
    assert text == SCRIPT_TEXT


def test_silence_gives_nothing(sense_voice: SenseVoiceEngine) -> None:
    utterance = sense_voice.new_utterance()
    assert all(utterance.feed(packet) == "" for packet in packets(bytes(2000 * BYTES_PER_MS)))
    assert utterance.end() == ("", [])
    empty = sense_voice.new_utterance()
    assert empty.end() == ("", [])  # nothing fed: no decode at all
    with pytest.raises(RuntimeError, match="ended or is closed"):
        empty.feed(noise(100))


def test_language_option_reaches_the_model(sense_voice_dir: Path) -> None:
    english = SenseVoiceEngine(sense_voice_dir, language="en", use_itn=False)
    utterance = english.new_utterance()
    utterance.feed(noise(1000))
    assert utterance.end()[0] == "你好 world，"
    assert english.last_language == "en"  # the tiny model's language tag follows the input


def test_create_engine_builds_it_from_the_folder(sense_voice_dir: Path) -> None:
    engine = create_engine("sherpa-sensevoice", model_dir=sense_voice_dir)
    assert isinstance(engine, SenseVoiceEngine)
    assert engine.name == "sherpa-sensevoice" and not engine.synthetic


def test_unknown_language_is_a_configuration_error(sense_voice_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="language must be one of auto, zh, en"):
        SenseVoiceEngine(sense_voice_dir, language="fr")
