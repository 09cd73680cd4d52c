"""Placeholder engine for load tests: no recognition, near-zero cost.

Every ``word_ms`` of audio fed adds one word from a fixed cycle ("synthetic",
"word", "one", "two", ...).  Partial and final texts start with
``[synthetic]`` so output can never be mistaken for a transcript; the
``words`` list holds only the placeholder words, each ``word_ms`` apart.
Audio content is ignored: only its length matters.  Hot words are ignored too: the engine is
not a :class:`.base.HotWordEngine`, so a task's vocabulary leaves its output unchanged.
"""

from __future__ import annotations

import itertools

__all__ = ["MARKER", "SyntheticEngine", "SyntheticUtterance"]

MARKER = "[synthetic]"
_VOCABULARY = ("synthetic", "word", "one", "two", "three", "four", "five", "six", "seven", "eight")
_BYTES_PER_MS = 32  # 16 kHz s16le mono


class SyntheticUtterance:
    """Counts audio and names one placeholder word per ``word_ms``."""

    def __init__(self, word_ms: int) -> None:
        self._word_ms = word_ms
        self._bytes = 0
        self._closed = False

    def feed(self, pcm16k: bytes) -> str:
        self._check_open()
        self._bytes += len(pcm16k)
        return _text(self._words())

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        self._check_open()
        words = self._words()
        # Each word fills most of its slot, as spoken words leave short gaps.
        timed = [(word, i * self._word_ms, i * self._word_ms + self._word_ms * 5 // 6) for i, word in enumerate(words)]
        self._closed = True
        return _text(words), timed

    def close(self) -> None:
        self._closed = True

    def _words(self) -> list[str]:
        count = self._bytes // _BYTES_PER_MS // self._word_ms
        return list(itertools.islice(itertools.cycle(_VOCABULARY), count))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("utterance has ended or is closed")


def _text(words: list[str]) -> str:
    return f"{MARKER} {' '.join(words)}" if words else ""


class SyntheticEngine:
    """Engine whose utterances emit placeholder words; see the module docstring."""

    name: str = "synthetic"
    synthetic: bool = True

    def __init__(self, *, word_ms: int = 300) -> None:
        if word_ms <= 0:
            raise ValueError("word_ms must be > 0")
        self.word_ms = word_ms

    def new_utterance(self) -> SyntheticUtterance:
        return SyntheticUtterance(self.word_ms)
