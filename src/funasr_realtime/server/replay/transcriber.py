"""One task's replay: a fixture's results, each sent once the task has received its audio time.

:class:`ReplayTranscriber` stands in for the server's VAD transcriber (same call order:
``feed`` any number of times, ``finish`` once, ``close`` always) and returns
:class:`~..engines.base.Recorded` results, which the task sends unchanged:

* ``feed(pcm)`` counts the audio (16 kHz mono s16le) and returns every result now due
  (:attr:`~.fixture.ReplayResult.due_ms` at most the audio received), in fixture order;
* ``finish()`` flushes the sentence in progress, as the service does at finish-task: if a
  partial of a sentence was sent and its final was not, that final comes now (the partials
  between are skipped), its times (sentence and words) cut at the end of the audio
  received.  Results of sentences not begun yet are dropped.

Every task starts at the fixture's beginning.  Not thread-safe (one task, one thread).
"""

from __future__ import annotations

from ...protocol import Sentence
from ..engines.base import Recorded
from .fixture import ReplayFixture, ReplayResult

__all__ = ["ReplayTranscriber"]

_BYTES_PER_MS = 32  # 16 kHz s16le mono


class ReplayTranscriber:
    """Plays ``fixture`` back for one task; see the module docstring."""

    def __init__(self, fixture: ReplayFixture) -> None:
        self._results = fixture.results
        self._next = 0  # index of the first result not sent
        self._bytes = 0
        self._open = False  # a partial was sent and its final was not
        self._finished = False

    @property
    def audio_ms(self) -> int:
        """Milliseconds of audio fed so far."""
        return self._bytes // _BYTES_PER_MS

    def feed(self, pcm16k: bytes) -> list[Recorded]:
        if self._finished:
            raise RuntimeError("ReplayTranscriber.feed() after finish() or close()")
        self._bytes += len(pcm16k)
        out: list[Recorded] = []
        while self._next < len(self._results) and self._results[self._next].due_ms <= self.audio_ms:
            out.append(self._send(self._results[self._next]))
            self._next += 1
        return out

    def finish(self) -> list[Recorded]:
        """End of audio: the final of the sentence in progress, if one is."""
        if self._finished:
            return []
        self._finished = True
        if not self._open:
            return []
        for index in range(self._next, len(self._results)):
            if self._results[index].final:
                self._next = index + 1
                recorded = self._send(self._results[index])
                return [Recorded(_cut(recorded.sentence, self.audio_ms), recorded.usage)]
        return []

    def close(self) -> None:
        """Nothing more is sent; safe to call repeatedly."""
        self._finished = True

    def _send(self, result: ReplayResult) -> Recorded:
        if result.final:
            self._open = False
        elif not result.sentence.heartbeat:
            self._open = True
        return Recorded(result.sentence, result.usage)


def _cut(sentence: Sentence, end_ms: int) -> Sentence:
    """``sentence`` with no time past ``end_ms`` (nor before its beginning): a flush ends with the audio."""
    end = max(sentence.begin_time, min(sentence.end_time or end_ms, end_ms))
    words = tuple(
        w.model_copy(update={"begin_time": min(w.begin_time, end), "end_time": min(w.end_time, end)})
        for w in sentence.words
    )
    return sentence.model_copy(update={"end_time": end, "words": words})
