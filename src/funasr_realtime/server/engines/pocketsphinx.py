"""Real English recognition with CMU PocketSphinx (model shipped in its wheel).

Contract (see :mod:`.base`): :class:`PocketsphinxEngine` is thread-safe and lends
:class:`PocketsphinxUtterance` objects decoders from a bounded pool; an utterance is
single-threaded.

* Without a grammar the decoders use the wheel's general en-us n-gram LM, loaded once per engine
  and shared by every decoder.  With a JSGF grammar (a path, or JSGF text starting with
  ``#JSGF``) only the grammar's sentences can be recognised, which makes tests exact.
* Every utterance starts from a fresh front end, so a sentence's result depends only on its own
  audio, never on what a pooled decoder heard before.  With a grammar, the final is decoded a
  second time with the utterance's own cepstral mean, which makes 8 kHz (upsampled) audio exact.
* ``pocketsphinx`` is imported when the engine is created, not when this module is imported.

Memory (measured with pocketsphinx 5.1.1 on x86_64, see docs/RELIABILITY.md): the shared LM
takes ~34 MB once; each decoder takes ~61 MB with the LM (~29 MB with a grammar) plus up to
~13 MB of search state during a 60 s sentence.  A decoder is lent to a sentence, never to a
connection, and at most ``max_decoders`` exist, so decoder memory is bounded by
``LM + max_decoders x 75 MB`` whatever the number of connections.  Each open sentence also keeps
its own 16 kHz PCM (32 kB per second; the transcriber cuts sentences at 60 s, so <= 1.9 MB), which
is what lets a sentence give its decoder up and resume later:

* a sentence that has not been fed at all while another one waited ``steal_after_s`` for a
  decoder loses its decoder to it (least recently used first); when it resumes, it re-decodes its
  kept PCM on whichever decoder it gets.  Sentences that keep being fed keep their decoders.
  The final is the same (the decoder is deterministic on the same samples), only its partials
  are skipped meanwhile;
* a sentence that finds no decoder free keeps buffering and reports no new partial; its final
  waits for a decoder (``end()`` takes the least recently used one not inside a call).

So under load partials become rarer, finals stay exact, and memory stays flat.  When no sentence
is open, idle decoders beyond ``max_idle`` are freed and the heap is trimmed, so RSS returns close
to its idle level after a burst.  ``process_raw`` holds the GIL, so decoding in worker threads
does not run in parallel; it only keeps an event loop responsive between calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...protocol.vocabulary import HotWord
from ._biased import HotWordView, VocabularyDecoders
from ._decoders import LM_FILE, LM_SEARCH, Decoder, DecoderPool, PocketsphinxUtterance, clean_words
from ._vocabulary import VocabularyCache, dictionary_words, vocabulary_key

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_DECODERS",
    "DEFAULT_MAX_IDLE",
    "DEFAULT_MAX_VOCABULARIES",
    "DEFAULT_VOCABULARY_DECODERS",
    "PocketsphinxEngine",
    "PocketsphinxUtterance",
    "clean_words",
    "load_grammar",
]

#: Decoders an engine creates at most (each ~61-75 MB with the general LM).
DEFAULT_MAX_DECODERS = 8
#: Idle decoders kept warm once no sentence is open (creating one costs ~0.25 s of CPU).
DEFAULT_MAX_IDLE = 2
#: A sentence not fed while another waited this long for a decoder may lose its decoder to it.
DEFAULT_STEAL_AFTER_S = 1.0
#: Vocabularies whose decoders (and LM copy, ~34 MB) are kept at once.
DEFAULT_MAX_VOCABULARIES = 2
#: Decoders one vocabulary's tasks share at most.
DEFAULT_VOCABULARY_DECODERS = 2

_GRAMMAR_SEARCH = "grammar"


def load_grammar(grammar: str | Path | None) -> str | None:
    """Return JSGF text: ``grammar`` itself if it starts with ``#JSGF``, else a file's contents."""
    if grammar is None:
        return None
    if isinstance(grammar, str) and grammar.lstrip().startswith("#JSGF"):
        return grammar
    # Read the file ourselves: Decoder(jsgf=<missing path>) crashes the
    # process (pocketsphinx 5.1.1) instead of raising.
    return Path(grammar).read_text(encoding="utf-8")


class PocketsphinxEngine:
    """PocketSphinx en-us recogniser with a bounded pool of decoders.

    ``grammar``: JSGF path or text (see :func:`load_grammar`); None for the
    general LM.  ``second_pass``: decode each final again with the
    utterance's own cepstral mean (see :func:`_decode_with_own_mean`); the
    default (None) enables it with a grammar, where it costs ~10 ms per second
    of audio, and not with the LM, where it would add about a tenth of the
    sentence's length to each final's latency for no measured gain at 16 kHz.
    ``loglevel`` is pocketsphinx's own stderr logging; "FATAL" by default
    because a grammar search that ends outside the grammar (routine in the
    first pass on 8 kHz audio) logs an ERROR line per sentence.
    ``preload`` decoders are built now, so configuration errors (bad grammar,
    word missing from the dictionary) raise ``ValueError`` here rather than
    in the first task, and the first task starts warm.

    Bounds (module docstring): at most ``max_decoders`` decoders exist at once, shared by all
    open sentences; once no sentence is open, at most ``max_idle`` are kept.  Decoder memory is
    therefore at most ``34 MB + max_decoders x 75 MB`` with the LM (~600 MB by default) and drops
    to ``34 MB + max_idle x 61 MB`` when idle.  ``steal_after_s``: how long a sentence may go
    unfed, while another sentence waits, before that one may take its decoder.

    Hot words (:meth:`with_hot_words`, general LM only): a vocabulary gets its own decoders and
    its own copy of the LM, with the words added (see :class:`VocabularyDecoders`); tasks
    without a vocabulary keep the shared decoders, unchanged.  At most ``max_vocabularies``
    vocabularies have decoders at once, each at most ``vocabulary_decoders`` of them, so the
    bound above grows by ``max_vocabularies x (34 MB + vocabulary_decoders x 75 MB)`` (~370 MB
    by default); a task whose vocabulary finds every slot held by other vocabularies' tasks is
    decoded without its hot words (logged).
    """

    name: str = "pocketsphinx"
    synthetic: bool = False

    def __init__(
        self,
        grammar: str | Path | None = None,
        *,
        second_pass: bool | None = None,
        max_decoders: int = DEFAULT_MAX_DECODERS,
        max_idle: int = DEFAULT_MAX_IDLE,
        preload: int = 1,
        steal_after_s: float = DEFAULT_STEAL_AFTER_S,
        loglevel: str = "FATAL",
        max_vocabularies: int = DEFAULT_MAX_VOCABULARIES,
        vocabulary_decoders: int = DEFAULT_VOCABULARY_DECODERS,
    ) -> None:
        if max_decoders < 1 or max_idle < 0 or preload < 0 or steal_after_s < 0:
            raise ValueError("max_decoders must be >= 1; max_idle, preload and steal_after_s >= 0")
        if max_vocabularies < 0 or vocabulary_decoders < 1:
            raise ValueError("max_vocabularies must be >= 0 and vocabulary_decoders >= 1")
        if preload > max_decoders:
            raise ValueError("preload cannot exceed max_decoders")
        import pocketsphinx  # lazy: optional dependency

        self._module: Any = pocketsphinx
        self._jsgf = load_grammar(grammar)
        self._second_pass = self._jsgf is not None if second_pass is None else second_pass
        self._loglevel = loglevel
        self._lm: Any = None  # the general LM, loaded with the first decoder and shared
        self._lm_lock = threading.Lock()
        # pocketsphinx does not document a shared NGramModel as safe to use from two threads at
        # once.  process_raw holds the GIL anyway, so serialising decoder calls costs nothing.
        self._decode_lock = threading.Lock()
        self._max_decoders = max_decoders
        self._pool = DecoderPool(
            self._new_decoder, max_decoders=max_decoders, max_idle=max_idle, steal_after_s=steal_after_s
        )
        self._pool.prefill([self._new_decoder() for _ in range(preload)])
        self._steal_after = steal_after_s
        self._vocabulary_decoders = vocabulary_decoders
        self._vocabularies: VocabularyCache[tuple[tuple[str, int], ...], VocabularyDecoders] = VocabularyCache(
            max_vocabularies, self._new_vocabulary, VocabularyDecoders.free
        )

    @property
    def grammar(self) -> str | None:
        return self._jsgf

    @property
    def second_pass(self) -> bool:
        return self._second_pass

    @property
    def idle_decoders(self) -> int:
        """Decoders alive and lent to no sentence."""
        return self._pool.idle

    @property
    def decoders(self) -> int:
        """Decoders alive (idle or lent), never more than :attr:`max_decoders`."""
        return self._pool.count

    @property
    def max_decoders(self) -> int:
        return self._max_decoders

    @property
    def vocabularies(self) -> int:
        """Vocabularies that have decoders (held by a task or cached), never more than ``max_vocabularies``."""
        return len(self._vocabularies)

    @property
    def vocabulary_decoders(self) -> int:
        """Decoders alive for vocabularies, in all (bounded: see the class docstring)."""
        return self._vocabularies.total(lambda v: v.decoders)

    def new_utterance(self) -> PocketsphinxUtterance:
        return PocketsphinxUtterance(self._pool, self._decode_lock, second_pass=self._second_pass)

    def with_hot_words(self, words: Sequence[HotWord]) -> HotWordView:
        """This engine biased toward ``words`` for one task; close the view when the task ends.

        With a grammar, or when no word is English text, nothing is applied (the grammar decides
        what can be said).  Cheap: the vocabulary's decoders are built by its first sentence, on
        the thread that decodes it.
        """
        if self._jsgf is not None or not dictionary_words(words):
            return HotWordView(self, None, None)
        key = vocabulary_key(words)
        decoders = self._vocabularies.acquire(key)
        if decoders is None:
            logger.warning("every vocabulary slot is in use: a task runs without its hot words")
            return HotWordView(self, None, None)
        return HotWordView(self, key, decoders)

    def clear_vocabularies(self) -> None:
        """Free the decoders of every vocabulary no task uses."""
        self._vocabularies.clear()

    def _release_vocabulary(self, key: tuple[tuple[str, int], ...]) -> None:
        self._vocabularies.release(key)

    def _new_vocabulary(self, key: tuple[tuple[str, int], ...]) -> VocabularyDecoders:
        words = tuple(HotWord(text=text, weight=weight) for text, weight in key)
        return VocabularyDecoders(
            self._module,
            dictionary_words(words),
            self._decode_lock,
            loglevel=self._loglevel,
            max_decoders=self._vocabulary_decoders,
            steal_after_s=self._steal_after,
        )

    def _new_decoder(self) -> Decoder:
        if self._jsgf is None:
            decoder = self._module.Decoder(lm=None, loglevel=self._loglevel)
            decoder.add_lm(LM_SEARCH, self._shared_lm(decoder))
            decoder.activate_search(LM_SEARCH)
        else:
            decoder = self._module.Decoder(lm=None, loglevel=self._loglevel)
            try:
                decoder.add_jsgf_string(_GRAMMAR_SEARCH, self._jsgf)
            except ValueError as exc:
                raise ValueError(
                    f"invalid JSGF grammar for pocketsphinx ({exc}): it must be JSGF V1.0 with a public rule, "
                    "and every word must be in the en-us dictionary (pass loglevel='ERROR' for details)"
                ) from exc
            decoder.activate_search(_GRAMMAR_SEARCH)
        logger.debug("created a pocketsphinx decoder (grammar=%s)", self._jsgf is not None)
        return decoder

    def _shared_lm(self, decoder: Decoder) -> Any:
        """The wheel's en-us LM, read once (~34 MB) and shared by every decoder of this engine."""
        with self._lm_lock:
            if self._lm is None:
                path = self._module.get_model_path(LM_FILE)
                self._lm = self._module.NGramModel(decoder.config, decoder.logmath, path)
            return self._lm
