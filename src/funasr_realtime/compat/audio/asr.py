"""``dashscope.audio.asr``: the same names as :mod:`funasr_realtime.compat` exports.

``from funasr_realtime.compat.audio.asr import *`` brings what ``from dashscope.audio.asr
import *`` brings; names compat does not implement are stubs that raise
:class:`~funasr_realtime.compat.NotProvidedError` when used.
"""

from __future__ import annotations

from .._unsupported import (
    AsrPhraseManager,
    Transcription,
    TranscriptionResult,
    Translation,
    TranslationRecognizerCallback,
    TranslationRecognizerChat,
    TranslationRecognizerRealtime,
    TranslationRecognizerResultPack,
    TranslationResult,
)
from ..recognition import Recognition
from ..result import RecognitionCallback, RecognitionResult
from ..vocabulary import VocabularyService, VocabularyServiceException

# The SDK's own __all__ (dashscope 2.0.2), in its order.
__all__ = [
    "Transcription",
    "Recognition",
    "RecognitionCallback",
    "RecognitionResult",
    "AsrPhraseManager",
    "VocabularyServiceException",
    "VocabularyService",
    "TranslationRecognizerRealtime",
    "TranslationRecognizerChat",
    "TranslationRecognizerCallback",
    "Translation",
    "TranslationResult",
    "TranscriptionResult",
    "TranslationRecognizerResultPack",
]
