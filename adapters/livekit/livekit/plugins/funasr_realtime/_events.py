"""Transcript assembly: core sentences → LiveKit ``SpeechData`` (seconds, word timings, language).

Text is joined and its language guessed by the core (:func:`funasr_realtime.join_texts`,
:func:`funasr_realtime.detect_language`), which knows which scripts go without spaces.
"""

from __future__ import annotations

from collections.abc import Sequence

from livekit.agents import LanguageCode, stt
from livekit.agents.types import TimedString

import funasr_realtime as fr
from funasr_realtime import detect_language, join_texts

__all__ = ["merge_sentences", "speech_data"]


def speech_data(sentence: fr.Sentence, *, offset: float, language: LanguageCode | None) -> stt.SpeechData:
    """``SpeechData`` for a sentence whose times are core stream milliseconds.

    Times become seconds on the LiveKit stream timeline: ``ms / 1000 + offset``, where
    ``offset`` is ``start_time_offset`` (a LiveKit retry's core stream resumes the failed
    one's timeline, so its times need no shift).
    A partial has no ``end_time`` yet: its last word's end (or its start) stands in.
    A sentence with an emotion (:attr:`funasr_realtime.Sentence.emotion`) puts it in
    ``metadata`` as ``emotion`` and ``emotion_confidence``.
    """

    def seconds(ms: int) -> float:
        return ms / 1000 + offset

    words = [
        TimedString(
            w.text + w.punctuation,
            start_time=seconds(w.begin_time),
            end_time=seconds(w.end_time),
            start_time_offset=offset,
        )
        for w in sentence.words
    ]
    emotion = sentence.emotion  # paraformer-realtime-8k-v2's emo_tag / emo_confidence
    return stt.SpeechData(
        language=language if language is not None else LanguageCode(detect_language(sentence.text)),
        text=sentence.text,
        start_time=seconds(sentence.begin_time),
        end_time=seconds(_end_ms(sentence)),
        words=words or None,
        metadata=None if emotion is None else {"emotion": emotion.tag, "emotion_confidence": emotion.confidence},
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
    return speech_data(merged, offset=0.0, language=language)


def _end_ms(sentence: fr.Sentence) -> int:
    if sentence.end_time is not None:
        return sentence.end_time
    return sentence.words[-1].end_time if sentence.words else sentence.begin_time
