"""The local server applies a vocabulary's hot words with pocketsphinx's general model.

The fixtures ``hw1``/``hw2`` (scripts/make_fixtures.py) each hold a word missing from the en-us
dictionary ("paraformer", "pipecat"), so the plain model cannot produce it.  Through the real
server, a vocabulary created over HTTP with the official SDK's ``VocabularyService`` makes the
same audio come out with the word; tasks without the vocabulary, on the same server, get the
transcripts they got before.  Engine-level tests prove that vocabularies' decoders are bounded
and released.
"""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from typing import Any

import pytest
from dashscope.audio.asr import Recognition, VocabularyService
from pydantic import SecretStr
from tests.conftest import SPEECH
from tests.server.sdk import sdk_vocabulary_service

from funasr_realtime.protocol.vocabulary import HotWord
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.engines.base import Engine, HotWordEngine
from funasr_realtime.server.engines.pocketsphinx import PocketsphinxEngine
from funasr_realtime.server.engines.synthetic import SyntheticEngine
from funasr_realtime.server.thread import ServerThread

pytestmark = pytest.mark.timeout(300)

KEY = "local-" + "hot-word-key"
HOT = json.loads((SPEECH / "hot_words.json").read_text(encoding="utf-8"))
OTHERS = ("s2", "s3", "s6")  # sentences without hot words


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(engine="pocketsphinx", api_key=SecretStr(KEY))) as running:
        yield running


@pytest.fixture
def sdk(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> VocabularyService:
    return sdk_vocabulary_service(server, KEY, monkeypatch)


def _transcribe(name: str, vocabulary_id: str | None = None) -> str:
    recognition = Recognition(
        model="fun-asr-realtime",
        format="wav",
        sample_rate=16000,
        callback=None,  # type: ignore[arg-type]  # the SDK's own call() takes None
        vocabulary_id=vocabulary_id,
    )
    result = recognition.call(str(SPEECH / f"{name}_16k.wav"))
    assert result.status_code == 200, result.message
    sentences: list[dict[str, Any]] = result.get_sentence()  # type: ignore[assignment]  # a list for call()
    return " ".join(sentence["text"] for sentence in sentences)


def _has(text: str, word: str) -> bool:
    return word.lower() in text.lower().split()


def test_a_hot_word_the_plain_model_misses_is_found_with_the_vocabulary(sdk: VocabularyService) -> None:
    names = sorted(HOT)
    before = {name: _transcribe(name) for name in [*names, *OTHERS]}
    assert not any(_has(before[name], HOT[name]["hot_word"]) for name in names), before

    words = [{"text": HOT[name]["hot_word"], "weight": 4} for name in names]
    vocabulary_id = sdk.create_vocabulary(target_model="fun-asr-realtime", prefix="hot", vocabulary=words)
    biased = {name: _transcribe(name, vocabulary_id) for name in [*names, *OTHERS]}
    for name in names:
        # Found, spelt as the vocabulary spells it.
        assert HOT[name]["hot_word"] in biased[name].split(), biased[name]
    # The rest is what the plain model heard: no hot word put where none was said.
    for name in OTHERS:
        assert biased[name] == before[name]

    # Tasks without the vocabulary, on the same server, after it was used: unchanged.
    assert {name: _transcribe(name) for name in [*names, *OTHERS]} == before
    sdk.delete_vocabulary(vocabulary_id)


def _decode(engine: Engine, name: str) -> str:
    with wave.open(str(SPEECH / f"{name}_16k.wav")) as w:
        pcm = w.readframes(w.getnframes())
    utterance = engine.new_utterance()
    try:
        utterance.feed(pcm)
        text, _ = utterance.end()
    finally:
        utterance.close()
    return text


def test_vocabulary_decoders_are_bounded_shared_and_released() -> None:
    engine = PocketsphinxEngine(preload=0, max_vocabularies=1, vocabulary_decoders=1)
    first = engine.with_hot_words([HotWord(text="Paraformer")])
    same = engine.with_hot_words([HotWord(text="Paraformer")])  # same content: shared
    assert "Paraformer" in _decode(first, "hw1").split()
    assert engine.vocabularies == 1 and engine.vocabulary_decoders == 1

    other = engine.with_hot_words([HotWord(text="Pipecat")])  # no slot free: runs unbiased
    assert other.hot_words == () and engine.vocabularies == 1
    assert _decode(other, "hw2") == _decode(engine, "hw2")
    other.close()

    first.close()
    same.close()
    freed_for = engine.with_hot_words([HotWord(text="Pipecat")])  # the unheld one is evicted
    assert freed_for.hot_words == ("Pipecat",) and engine.vocabularies == 1
    assert engine.vocabulary_decoders == 0  # the evicted vocabulary's decoder is gone
    freed_for.close()
    engine.clear_vocabularies()
    assert engine.vocabularies == 0 and engine.vocabulary_decoders == 0


def test_a_vocabulary_without_english_words_changes_nothing() -> None:
    engine = PocketsphinxEngine(preload=0)
    view = engine.with_hot_words([HotWord(text="阿里云", lang="zh")])
    assert view.hot_words == () and engine.vocabularies == 0
    view.close()


def test_the_synthetic_engine_ignores_hot_words() -> None:
    assert not isinstance(SyntheticEngine(), HotWordEngine)
    assert isinstance(PocketsphinxEngine(preload=0), HotWordEngine)
