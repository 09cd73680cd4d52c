"""Core sentences to LiveKit ``SpeechData``: seconds, word timings, language, text joins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from livekit.agents import LanguageCode, stt
from livekit.agents.types import TimedString

import funasr_realtime as fr

__all__ = ["detect_language", "join_texts", "merge_sentences", "speech_data"]


def speech_data(sentence: fr.Sentence, *, base_ms: int, offset: float, language: LanguageCode | None) -> stt.SpeechData:
    """``SpeechData`` for a sentence whose times are core stream milliseconds.

    Times become seconds on the LiveKit stream timeline: ``(base_ms + ms) / 1000 + offset``,
    where ``base_ms`` is where the core stream's time zero sits on the LiveKit stream (0
    unless a LiveKit retry replayed audio) and ``offset`` is ``start_time_offset``.
    A partial has no ``end_time`` yet: its last word's end (or its start) stands in.
    """

    def seconds(ms: int) -> float:
        return (base_ms + ms) / 1000 + offset

    words = [
        TimedString(
            w.text + w.punctuation,
            start_time=seconds(w.begin_time),
            end_time=seconds(w.end_time),
            start_time_offset=offset,
        )
        for w in sentence.words
    ]
    return stt.SpeechData(
        language=language if language is not None else LanguageCode(detect_language(sentence.text)),
        text=sentence.text,
        start_time=seconds(sentence.begin_time),
        end_time=seconds(_end_ms(sentence)),
        words=words or None,
    )


def merge_sentences(sentences: Sequence[fr.Sentence], *, language: LanguageCode | None) -> stt.SpeechData:
    """One ``SpeechData`` for several final sentences (``recognize()`` on a buffer)."""
    text = join_texts(s.text for s in sentences)
    merged = fr.Sentence(
        text=text,
        begin_time=sentences[0].begin_time if sentences else 0,
        end_time=_end_ms(sentences[-1]) if sentences else 0,
        words=tuple(w for s in sentences for w in s.words),
        sentence_end=True,
    )
    return speech_data(merged, base_ms=0, offset=0.0, language=language)


def _end_ms(sentence: fr.Sentence) -> int:
    if sentence.end_time is not None:
        return sentence.end_time
    return sentence.words[-1].end_time if sentence.words else sentence.begin_time


def detect_language(text: str) -> str:
    """A best guess from the script, since Fun-ASR reports no language: ``""`` if unsure.

    Kana means Japanese, Hangul Korean, Han characters Chinese, Cyrillic Russian, Latin
    letters English (the only Latin-script language of the Fun-ASR models).
    """
    if any(_in(c, _KANA) for c in text):
        return "ja"
    if any(_in(c, _HANGUL) for c in text):
        return "ko"
    if any(_in(c, _HAN) for c in text):
        return "zh"
    if any(_in(c, _CYRILLIC) for c in text):
        return "ru"
    if any(c.isascii() and c.isalpha() for c in text):
        return "en"
    return ""


def join_texts(texts: Iterable[str]) -> str:
    """Join sentences: a space between alphabetic sentences, none next to CJK text."""
    out = ""
    for text in texts:
        if not text:
            continue
        if out and not (_unspaced(out[-1]) or _unspaced(text[0])):
            out += " "
        out += text
    return out


_KANA = ((0x3040, 0x30FF), (0x31F0, 0x31FF))
_HANGUL = ((0x1100, 0x11FF), (0xAC00, 0xD7AF))
_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_CYRILLIC = ((0x0400, 0x04FF),)
# Scripts and punctuation written without spaces: Han, kana, CJK symbols, full-width forms.
_UNSPACED = (*_KANA, *_HAN, (0x3000, 0x303F), (0xFF00, 0xFFEF))


def _in(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in ranges)


def _unspaced(char: str) -> bool:
    return _in(char, _UNSPACED)
