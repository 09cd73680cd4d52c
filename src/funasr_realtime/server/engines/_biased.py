"""Hot words for the pocketsphinx engine: per-vocabulary decoders with a weighted LM copy.

A task whose run-task names a vocabulary decodes on a :class:`VocabularyDecoders` of that
vocabulary's content (cached and bounded by the engine), through a :class:`HotWordView`;
tasks without one keep the engine's shared decoders, unchanged.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ._decoders import LM_FILE, LM_SEARCH, Decoder, DecoderPool, PocketsphinxUtterance
from ._heap import trim_heap
from ._vocabulary import DictionaryWord, compose_pronunciation, spoken_pieces

if TYPE_CHECKING:
    from .pocketsphinx import PocketsphinxEngine

__all__ = ["HotWordView", "VocabularyDecoders"]

logger = logging.getLogger("funasr_realtime.server.engines.pocketsphinx")

_PROBE = "++hot-word-probe++"  # an LM-only word: never in the dictionary, so never decoded


def _boost(weight: int) -> float:
    """A hot word's unigram probability, as a multiple of the uniform 1/|V|: x10 per weight step."""
    return 10.0 ** (weight - 1)


class VocabularyDecoders:
    """The decoders of one vocabulary: a private copy of the general LM with the hot words added.

    For each hot word (:func:`._vocabulary.dictionary_words`): a word missing from the en-us
    dictionary is added to it with a composed pronunciation (:func:`compose_pronunciation`) and
    to the LM as a unigram of probability ``10**(weight-1) / |V|``; a word the dictionary knows
    is raised to that probability if the LM gives it less (never lowered).  No bigram knows the
    new words, so the LM backs off to that unigram.  The copy (~34 MB) is read by the first
    decoder, on the decoding thread; sentences then share at most ``max_decoders`` decoders as
    the engine's own pool does.  Decoded text spells hot words as the vocabulary does.
    Measured on the hot-word fixtures: see tests/server/test_hot_words.py and docs/PROTOCOL.md.
    """

    def __init__(
        self,
        module: Any,
        words: list[DictionaryWord],
        decode_lock: threading.Lock,
        *,
        loglevel: str,
        max_decoders: int,
        steal_after_s: float,
    ) -> None:
        self._module = module
        self.words = words
        self._lock = decode_lock
        self._loglevel = loglevel
        self._lm: Any = None
        self._lm_lock = threading.Lock()
        self._phones: dict[str, str] = {}  # added words' pronunciations, fixed by the first decoder
        self.spelling = {w.key: w.spelling for w in words if w.spelling != w.key}
        self.pool = DecoderPool(self._new_decoder, max_decoders=max_decoders, max_idle=1, steal_after_s=steal_after_s)

    @property
    def decoders(self) -> int:
        return self.pool.count

    @property
    def added(self) -> tuple[str, ...]:
        """The words this vocabulary's decoders can recognise (known once a decoder was built)."""
        return tuple(self._phones)

    def new_utterance(self) -> PocketsphinxUtterance:
        return PocketsphinxUtterance(self.pool, self._lock, second_pass=False, spelling=self.spelling)

    @staticmethod
    def free(decoders: VocabularyDecoders) -> None:
        """Drop the idle decoders and the LM copy (lent decoders go when their sentences end)."""
        decoders.pool.drain()
        decoders._lm = None
        trim_heap()

    def _new_decoder(self) -> Decoder:
        decoder = self._module.Decoder(lm=None, loglevel=self._loglevel)
        with self._lm_lock:
            if self._lm is None:
                self._lm = self._load_lm(decoder)
            lm = self._lm
            decoder.add_lm(LM_SEARCH, lm)
            phones = list(self._phones.items())
        for index, (word, pronunciation) in enumerate(phones):
            decoder.add_word(word, pronunciation, index == len(phones) - 1)  # rebuild the search once
        decoder.activate_search(LM_SEARCH)
        logger.debug("created a pocketsphinx decoder for %d hot words", len(phones))
        return decoder

    def _load_lm(self, decoder: Decoder) -> Any:
        """The LM copy with the hot words weighted; fixes which words the dictionary lacks."""
        lm = self._module.NGramModel(decoder.config, decoder.logmath, self._module.get_model_path(LM_FILE))
        # The uniform probability 1/|V|, read off a probe word (the API does not give |V|).
        lm.add_word(_PROBE, 1.0)
        uniform = lm.prob([_PROBE])
        for word in self.words:
            known = decoder.lookup_word(word.key)
            if known is None:
                pronunciation = compose_pronunciation(spoken_pieces(word), decoder.lookup_word)
                if pronunciation is None:
                    logger.info("no pronunciation for hot word %r; skipped", word.spelling)
                    continue
                self._phones[word.key] = pronunciation
                lm.add_word(word.key, _boost(word.weight))
            elif lm.prob([word.key]) < uniform + decoder.logmath.log(_boost(word.weight)):
                lm.add_word(word.key, _boost(word.weight))
        return lm


class HotWordView:
    """One task's view of a :class:`PocketsphinxEngine` with hot words (a :class:`.base.BiasedEngine`)."""

    name: str = "pocketsphinx"
    synthetic: bool = False

    def __init__(
        self,
        engine: PocketsphinxEngine,
        key: tuple[tuple[str, int], ...] | None,
        decoders: VocabularyDecoders | None,
    ) -> None:
        self._engine = engine
        self._key = key
        self._decoders = decoders

    @property
    def hot_words(self) -> tuple[str, ...]:
        if self._decoders is None:
            return ()
        return tuple(w.spelling for w in self._decoders.words)

    def new_utterance(self) -> PocketsphinxUtterance:
        if self._decoders is None:
            return self._engine.new_utterance()
        return self._decoders.new_utterance()

    def close(self) -> None:
        key, self._key = self._key, None
        if key is not None:
            self._engine._release_vocabulary(key)
