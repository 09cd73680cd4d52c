"""Per-task streaming transcription: VAD segmentation driving an engine.

One :class:`Transcriber` serves one task.  Feed it 16 kHz mono s16le PCM in
packets of any size; it returns :class:`Hypothesis` objects:

* a VAD onset opens a sentence (the engine utterance also gets ~300 ms of
  pre-roll); ``begin_ms`` is the onset, the same for every hypothesis of the
  sentence, and word timings are clamped so every word lies within
  ``[begin_ms, end_ms]``;
* partials (``final=False``, ``end_ms=None``, no words) come at most once per
  ``partial_interval_ms`` of audio, only when the text is non-empty and
  differs from the last partial sent;
* after ``max_sentence_silence_ms`` of non-speech, or when a sentence reaches
  ``max_sentence_ms``, the sentence ends with a final (``final=True``,
  ``end_ms`` set, task-relative word timings) and ``sentence_index`` moves on.
  A final with empty text is dropped and does not consume an index.

All times are task-relative milliseconds derived from the number of samples
fed, never from a clock.  Call ``finish()`` at end of audio (it flushes the
open sentence), then ``close()`` (always; it returns engine resources).
Not thread-safe.  Calls block on CPU (measured per 100 ms packet: ~5 ms with
a grammar, 10-30 ms with the general LM, up to ~0.2 s when a final is
decoded), and pocketsphinx holds the GIL meanwhile, so an asyncio server
should call from a worker thread to keep its loop responsive.

Memory per task: the VAD (~3.2 MB) plus, while a sentence is open, its PCM
kept by the engine (32 kB per second of sentence, so at most ~1.9 MB with the
default ``max_sentence_ms``).  Decoders are not per task: the engine lends
them to open sentences from a bounded pool (see :mod:`.engines.pocketsphinx`).
``close()`` frees both at once.
"""

from __future__ import annotations

import logging

from .engines.base import Engine, Hypothesis, Utterance, WordTiming
from .vad import SpeechAudio, SpeechEnd, SpeechStart, VadEvent, VoiceActivity

__all__ = ["Transcriber"]

logger = logging.getLogger(__name__)

_SAMPLES_PER_MS = 16
_BYTES_PER_MS = 2 * _SAMPLES_PER_MS


class _Sentence:
    """The open sentence: its utterance and where it sits in the task."""

    def __init__(self, utterance: Utterance, begin_sample: int, origin_sample: int) -> None:
        self.utterance = utterance
        self.begin_ms = begin_sample // _SAMPLES_PER_MS
        self.origin_ms = origin_sample // _SAMPLES_PER_MS  # where the utterance's audio starts
        self.origin_sample = origin_sample
        self.last_partial = ""
        self.last_partial_sample: int | None = None


class Transcriber:
    """Segments a task's audio into sentences and reports hypotheses."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_sentence_silence_ms: int = 1300,
        partial_interval_ms: int = 100,
        max_sentence_ms: int = 60_000,
    ) -> None:
        if partial_interval_ms < 0 or max_sentence_ms <= 0:
            raise ValueError("partial_interval_ms must be >= 0 and max_sentence_ms > 0")
        self._engine = engine
        self._vad = VoiceActivity(silence_ms=max_sentence_silence_ms)
        self._partial_samples = partial_interval_ms * _SAMPLES_PER_MS
        self._max_sentence_samples = max_sentence_ms * _SAMPLES_PER_MS
        self._sentence: _Sentence | None = None
        self._index = 0
        self._bytes = 0
        self._finished = False

    @property
    def audio_ms(self) -> int:
        """Milliseconds of audio fed so far."""
        return self._bytes // _BYTES_PER_MS

    @property
    def sentence_index(self) -> int:
        """Index the next (or currently open) sentence will carry."""
        return self._index

    def feed(self, pcm16k: bytes) -> list[Hypothesis]:
        if self._finished:
            raise RuntimeError("Transcriber.feed() after finish() or close()")
        self._bytes += len(pcm16k)
        return self._handle(self._vad.feed(pcm16k))

    def finish(self) -> list[Hypothesis]:
        """End of audio: close the open sentence and return its final, if any."""
        if self._finished:
            return []
        self._finished = True
        return self._handle(self._vad.flush())

    def close(self) -> None:
        """Release the open utterance without a final, and the VAD; safe to call repeatedly."""
        self._finished = True
        sentence, self._sentence = self._sentence, None
        if sentence is not None:
            sentence.utterance.close()
        self._vad.close()

    def _handle(self, events: list[VadEvent]) -> list[Hypothesis]:
        out: list[Hypothesis] = []
        pending = bytearray()  # consecutive audio is decoded in one engine call
        pending_end = 0
        for event in events:
            if isinstance(event, SpeechAudio):
                pending += event.pcm
                pending_end = event.sample + len(event.pcm) // 2
                continue
            self._decode(pending, pending_end, out)
            pending.clear()
            if isinstance(event, SpeechStart):
                self._open(event.sample, event.preroll_sample)
            elif isinstance(event, SpeechEnd):
                self._end(event.sample, out)
        self._decode(pending, pending_end, out)
        return out

    def _open(self, begin_sample: int, origin_sample: int) -> None:
        if self._sentence is not None:  # VAD never nests segments; be safe anyway
            self._sentence.utterance.close()
        self._sentence = _Sentence(self._engine.new_utterance(), begin_sample, origin_sample)

    def _decode(self, pcm: bytearray, end_sample: int, out: list[Hypothesis]) -> None:
        sentence = self._sentence
        if not pcm or sentence is None:
            return
        text = sentence.utterance.feed(bytes(pcm))
        self._maybe_partial(sentence, text, end_sample, out)
        if end_sample - sentence.origin_sample >= self._max_sentence_samples:
            # Bound decoder memory and latency on endless speech or noise:
            # cut here and continue the same speech in a new sentence.
            logger.info("sentence reached max_sentence_ms; cutting at %d ms", end_sample // _SAMPLES_PER_MS)
            self._end(end_sample, out)
            self._open(end_sample, end_sample)

    def _maybe_partial(self, sentence: _Sentence, text: str, now: int, out: list[Hypothesis]) -> None:
        if not text or text == sentence.last_partial:
            return
        last = sentence.last_partial_sample
        if last is not None and now - last < self._partial_samples:
            return
        sentence.last_partial = text
        sentence.last_partial_sample = now
        out.append(Hypothesis(self._index, sentence.begin_ms, None, text, (), final=False))

    def _end(self, voiced_end_sample: int, out: list[Hypothesis]) -> None:
        sentence, self._sentence = self._sentence, None
        if sentence is None:
            return
        try:
            text, raw_words = sentence.utterance.end()
        finally:
            sentence.utterance.close()
        if not text:
            logger.debug("dropping an empty sentence at %d ms", sentence.begin_ms)
            return
        words = tuple(_place(word, sentence) for word in raw_words)
        end_ms = max([voiced_end_sample // _SAMPLES_PER_MS, *(w.end_ms for w in words)])
        out.append(Hypothesis(self._index, sentence.begin_ms, end_ms, text, words, final=True))
        self._index += 1


def _place(word: tuple[str, int, int], sentence: _Sentence) -> WordTiming:
    """Make an utterance-relative word task-relative, inside the sentence.

    The decoder may stretch the first word back into the pre-roll (it did by
    up to 280 ms on upsampled 8 kHz audio) while the VAD onset was within one
    32 ms chunk of the true start on every fixture, so the onset wins.
    """
    text, begin, end = word
    begin_ms = max(sentence.origin_ms + begin, sentence.begin_ms)
    return WordTiming(text, begin_ms, max(sentence.origin_ms + end, begin_ms))
