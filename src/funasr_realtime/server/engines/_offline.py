"""One sentence on an offline (whole-segment) recogniser: bounded re-decoding for partials.

An offline model such as SenseVoice or Fun-ASR-Nano decodes a whole segment at once; it has no
streaming state.  The server's VAD already cuts the task into sentences (one utterance each), so
:class:`OfflineUtterance` keeps the sentence's 16 kHz PCM and:

* ``feed`` re-decodes the whole open segment for a partial only when enough new audio arrived
  since the last decode: at least ``Cadence.interval_ms``, and at least ``Cadence.growth`` times
  the length decoded last.  So the segments decoded grow geometrically: for a sentence of length
  L, all its partials decode at most ``(1 + 1/growth) x L`` of audio plus the start-up, where
  they come every ``interval_ms`` (with the defaults, 800 ms and 0.25: at most 5 L + 8 s; a 10 s
  sentence gets 9 partial decodes, 41 s of audio in all).  Once the segment is longer than
  ``Cadence.max_ms`` (default 30 s) no more partials are decoded and the last one stays; between
  decodes ``feed`` returns the last partial unchanged;
* ``end`` decodes the whole segment once for the final, whatever its length (the transcriber
  cuts sentences at 60 s, so at most 60 s of audio, 1.9 MB of PCM, are kept and decoded).

What a decode returns is a :class:`Decoded` (text and timed tokens); turning the recogniser's
tokens into words is :func:`timed_words`.  Single-threaded, like every utterance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ...text import is_unspaced, tidy_spacing

__all__ = ["Cadence", "Decoded", "OfflineUtterance", "clean_text", "timed_words"]

_SAMPLES_PER_MS = 16
_BYTES_PER_MS = 2 * _SAMPLES_PER_MS
#: The longest a word is taken to last after its first token starts, per token: the models
#: give token start times only, so a word followed by a pause would otherwise span the pause.
_MS_PER_TOKEN = 500
_TAG = re.compile(r"<\|[^|<>]*\|>")  # SenseVoice's <|zh|><|NEUTRAL|>... tags, if a model leaves any


@dataclass(frozen=True, slots=True)
class Cadence:
    """When partials are re-decoded; see the module docstring for the bound it gives."""

    interval_ms: int = 800
    growth: float = 0.25
    max_ms: int = 30_000

    def __post_init__(self) -> None:
        if self.interval_ms <= 0 or self.growth < 0 or self.max_ms < 0:
            raise ValueError("interval_ms must be > 0; growth and max_ms >= 0")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decode's raw text and its tokens with their start times (seconds from the segment's start).

    ``starts`` is empty when the model gives no times (then no words are reported).
    """

    text: str
    tokens: Sequence[str] = ()
    starts: Sequence[float] = ()


class OfflineUtterance:
    """One sentence decoded by ``decode`` (16 kHz s16le PCM of the whole segment -> :class:`Decoded`)."""

    def __init__(self, decode: Callable[[bytes], Decoded], cadence: Cadence) -> None:
        self._decode = decode
        self._cadence = cadence
        self._pcm = bytearray()
        self._decoded_bytes = 0  # segment length at the last partial decode
        self._partial = ""
        self._closed = False

    @property
    def audio_ms(self) -> int:
        return len(self._pcm) // _BYTES_PER_MS

    def feed(self, pcm16k: bytes) -> str:
        self._check_open()
        self._pcm += pcm16k
        if self._partial_due():
            self._decoded_bytes = len(self._pcm)
            self._partial = clean_text(self._decode(bytes(self._pcm)).text)
        return self._partial

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        self._check_open()
        self._closed = True
        if not self._pcm:
            return "", []
        decoded = self._decode(bytes(self._pcm))
        return clean_text(decoded.text), timed_words(decoded, self.audio_ms)

    def close(self) -> None:
        self._closed = True
        self._pcm = bytearray()

    def _partial_due(self) -> bool:
        cadence = self._cadence
        length, new = len(self._pcm), len(self._pcm) - self._decoded_bytes
        if length > cadence.max_ms * _BYTES_PER_MS:
            return False
        return new >= cadence.interval_ms * _BYTES_PER_MS and new >= cadence.growth * self._decoded_bytes

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("utterance has ended or is closed")


def clean_text(text: str) -> str:
    """A decode's text as the service writes it: tags gone, spacing tidied (:func:`~...text.tidy_spacing`)."""
    return tidy_spacing(_TAG.sub("", text))


def timed_words(decoded: Decoded, audio_ms: int) -> list[tuple[str, int, int]]:
    """Words from timed tokens, as ``(text, begin_ms, end_ms)`` relative to the segment's start.

    A word starts with a token that begins with a space (SentencePiece's word start, which
    sherpa-onnx turns into a space) or is unspaced text (each Han character or kana is a word);
    other tokens continue the word.  Punctuation joins the word before it (the engine interface
    has no separate punctuation field).  Times: a word begins at its first token's start and
    ends where the next word begins, but at most ``500 ms`` per token after its start and never
    past ``audio_ms``.  No times, no words.
    """
    if len(decoded.starts) != len(decoded.tokens):
        return []
    words: list[_Word] = []
    for token, start in zip(decoded.tokens, decoded.starts, strict=True):
        piece = _TAG.sub("", token).strip()
        if not piece:
            continue
        last = words[-1] if words else None
        if last is not None and not any(char.isalnum() for char in piece):
            last.text += piece
        elif last is None or token[:1].isspace() or is_unspaced(piece[0]) or is_unspaced(last.text[-1]):
            words.append(_Word(piece, min(round(start * 1000), audio_ms)))
        else:
            last.text += piece
            last.tokens += 1
    out: list[tuple[str, int, int]] = []
    for index, word in enumerate(words):
        following = words[index + 1].begin_ms if index + 1 < len(words) else audio_ms
        end = min(following, word.begin_ms + _MS_PER_TOKEN * word.tokens, audio_ms)
        out.append((word.text, word.begin_ms, max(end, word.begin_ms)))
    return out


@dataclass(slots=True)
class _Word:
    """A word being assembled from tokens."""

    text: str
    begin_ms: int
    tokens: int = 1
