"""Real English recognition with CMU PocketSphinx (model shipped in its wheel).

Contract (see :mod:`.base`): :class:`PocketsphinxEngine` is thread-safe and
lends each :class:`PocketsphinxUtterance` a decoder from a pool; the
utterance is single-threaded and gives the decoder back on ``close()``.

* Without a grammar the decoder uses the wheel's general en-us n-gram LM.
* With a JSGF grammar (a path, or JSGF text starting with ``#JSGF``) only the
  grammar's sentences can be recognised, which makes tests exact.
* Every utterance starts from a fresh front end, so a sentence's result
  depends only on its own audio, never on what the pooled decoder heard
  before.  With a grammar, the final is decoded a second time with the
  utterance's own cepstral mean, which makes 8 kHz (upsampled) audio exact.
* ``pocketsphinx`` is imported when the engine is created, not when this
  module is imported.

Costs measured on the development machine: a general-LM decoder loads in
~0.3 s and takes ~96 MB RSS, so decoders are pooled (created on demand,
reused after ``close()``, at most ``max_idle`` kept).  ``process_raw`` holds
the GIL, so decoding in worker threads does not run in parallel; it only
keeps an event loop responsive between calls.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeAlias

logger = logging.getLogger(__name__)

__all__ = ["PocketsphinxEngine", "PocketsphinxUtterance", "clean_words", "load_grammar"]

# pocketsphinx ships no type information; its Decoder is handled as Any.
Decoder: TypeAlias = Any

FRAME_MS = 10  # pocketsphinx's default frame rate is 100 frames per second
_GRAMMAR_SEARCH = "grammar"
_PRONUNCIATION_SUFFIX = re.compile(r"\(\d+\)$")
# <s>, </s>, <sil>, [NOISE], [BREATH], ++GARBAGE++ ...: fillers, not words.
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")


def clean_words(raw: Iterable[str]) -> list[str]:
    """Drop filler tokens and strip ``(2)``-style pronunciation variants."""
    words = (_PRONUNCIATION_SUFFIX.sub("", token) for token in raw)
    return [word for word in words if word and not _FILLER.match(word)]


def load_grammar(grammar: str | Path | None) -> str | None:
    """Return JSGF text: ``grammar`` itself if it starts with ``#JSGF``, else a file's contents."""
    if grammar is None:
        return None
    if isinstance(grammar, str) and grammar.lstrip().startswith("#JSGF"):
        return grammar
    # Read the file ourselves: Decoder(jsgf=<missing path>) crashes the
    # process (pocketsphinx 5.1.1) instead of raising.
    return Path(grammar).read_text(encoding="utf-8")


class _DecoderPool:
    """Thread-safe free list of idle decoders; creation happens outside the lock."""

    def __init__(self, factory: Callable[[], Decoder], max_idle: int) -> None:
        self._factory = factory
        self._max_idle = max_idle
        self._idle: list[Decoder] = []
        self._lock = threading.Lock()

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def acquire(self) -> Decoder:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._factory()

    def release(self, decoder: Decoder) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(decoder)
                return
        logger.debug("decoder pool full (%d idle); dropping a decoder", self._max_idle)


class PocketsphinxUtterance:
    """One sentence on a pooled decoder; see :class:`.base.Utterance`."""

    def __init__(self, decoder: Decoder, release: Callable[[Decoder], None], *, second_pass: bool) -> None:
        self._decoder: Decoder | None = decoder
        self._release = release
        self._carry = b""  # an odd trailing byte, completed by the next feed
        self._audio: bytearray | None = bytearray() if second_pass else None
        self._ended = False
        self._healthy = True
        # A fresh front end (noise estimate, cepstral mean and its
        # accumulators) per utterance: a pooled decoder would otherwise carry
        # the previous task's channel into this one, and the same audio could
        # decode differently depending on which decoder the pool handed out.
        decoder.reinit_feat()
        decoder.start_utt()

    def feed(self, pcm16k: bytes) -> str:
        decoder = self._active("feed")
        data = self._carry + pcm16k
        whole = len(data) & ~1
        self._carry = data[whole:]
        if whole:
            if self._audio is not None:
                self._audio += data[:whole]
            self._healthy = False  # until process_raw returns normally
            decoder.process_raw(data[:whole], False, False)
            self._healthy = True
        return _hyp_text(decoder)

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        decoder = self._active("end")
        self._ended = True
        self._healthy = False
        decoder.end_utt()
        if self._audio:
            _decode_with_own_mean(decoder, bytes(self._audio))
        words = _segment_words(decoder)
        self._healthy = True
        return " ".join(word for word, _, _ in words), words

    def close(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return
        if self._healthy and not self._ended:
            try:
                decoder.end_utt()
            except RuntimeError:
                self._healthy = False
        if self._healthy:
            self._release(decoder)
        else:
            logger.warning("discarding a pocketsphinx decoder left in an unknown state")

    def _active(self, action: str) -> Decoder:
        if self._decoder is None:
            raise RuntimeError(f"cannot {action}(): utterance is closed")
        if self._ended:
            raise RuntimeError(f"cannot {action}(): utterance has ended")
        return self._decoder


def _decode_with_own_mean(decoder: Decoder, pcm: bytes) -> None:
    """Decode ``pcm`` again, normalised by its own cepstral mean (batch CMN).

    The streaming pass can only subtract the model's initial mean, which is
    far off for channels unlike the training data: on 8 kHz audio upsampled
    to 16 kHz a grammar search then fails on 5 of the 6 fixtures.  The
    accumulators started empty (``reinit_feat``), so ``get_cmn(True)`` now
    yields this utterance's own mean (recency-weighted past ~8 s).
    """
    mean = decoder.get_cmn(True)
    decoder.reinit_feat()
    decoder.set_cmn(mean)
    decoder.start_utt()
    decoder.process_raw(pcm, False, False)
    decoder.end_utt()


def _hyp_text(decoder: Decoder) -> str:
    hyp = decoder.hyp()
    return " ".join(clean_words(hyp.hypstr.split())) if hyp is not None else ""


def _segment_words(decoder: Decoder) -> list[tuple[str, int, int]]:
    words: list[tuple[str, int, int]] = []
    # seg() is None, not empty, when a grammar search ends outside the grammar.
    for seg in decoder.seg() or ():
        cleaned = clean_words([seg.word])
        if cleaned:
            words.append((cleaned[0], seg.start_frame * FRAME_MS, (seg.end_frame + 1) * FRAME_MS))
    return words


class PocketsphinxEngine:
    """PocketSphinx en-us recogniser with a pool of reusable decoders.

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
    in the first task, and the first task starts warm.  ``max_idle`` bounds
    how many idle decoders are kept.  The pool does not bound concurrent
    decoders: the server limits concurrent tasks.
    """

    name: str = "pocketsphinx"
    synthetic: bool = False

    def __init__(
        self,
        grammar: str | Path | None = None,
        *,
        second_pass: bool | None = None,
        max_idle: int = 4,
        preload: int = 1,
        loglevel: str = "FATAL",
    ) -> None:
        if max_idle < 0 or preload < 0:
            raise ValueError("max_idle and preload must be >= 0")
        import pocketsphinx  # lazy: optional dependency

        self._module: Any = pocketsphinx
        self._jsgf = load_grammar(grammar)
        self._second_pass = self._jsgf is not None if second_pass is None else second_pass
        self._loglevel = loglevel
        self._pool = _DecoderPool(self._new_decoder, max_idle)
        for decoder in [self._new_decoder() for _ in range(preload)]:
            self._pool.release(decoder)

    @property
    def grammar(self) -> str | None:
        return self._jsgf

    @property
    def second_pass(self) -> bool:
        return self._second_pass

    @property
    def idle_decoders(self) -> int:
        return self._pool.idle

    def new_utterance(self) -> PocketsphinxUtterance:
        decoder = self._pool.acquire()
        try:
            return PocketsphinxUtterance(decoder, self._pool.release, second_pass=self._second_pass)
        except RuntimeError:
            logger.warning("discarding a pocketsphinx decoder that failed to start an utterance")
            raise

    def _new_decoder(self) -> Decoder:
        if self._jsgf is None:
            decoder = self._module.Decoder(loglevel=self._loglevel)
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
