"""Names of ``dashscope.audio.asr`` that compat does not implement: present, and failing clearly.

A program written for the SDK may import every name the SDK exports (``from
dashscope.audio.asr import *``) and use only real-time recognition. So each name here exists
and imports fine; it fails only when used: calling it (instantiating the class), or reading
a public attribute of it (``Transcription.async_call``). The error is a
:class:`NotProvidedError` that says to use the dashscope SDK for it. Defining a subclass
(``class MyCallback(TranslationRecognizerCallback)``) is allowed, so a module that defines
one but never uses it still imports.
"""

from __future__ import annotations

from typing import Any, NoReturn

from ..protocol import FunAsrError

__all__ = [
    "NOT_PROVIDED",
    "AsrPhraseManager",
    "NotProvidedError",
    "Transcription",
    "TranscriptionResult",
    "Translation",
    "TranslationRecognizerCallback",
    "TranslationRecognizerChat",
    "TranslationRecognizerRealtime",
    "TranslationRecognizerResultPack",
    "TranslationResult",
]


class NotProvidedError(FunAsrError, NotImplementedError):
    """A name of ``dashscope.audio.asr`` that :mod:`funasr_realtime.compat` does not implement was used."""


class _NotProvided(type):
    """Metaclass of the stubs: instantiating one, or reading a public attribute of it, raises."""

    _why: str

    def __call__(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotProvidedError(cls._why)

    def __getattr__(cls, name: str) -> NoReturn:
        # Only names the class lacks get here. Private and dunder names stay AttributeError,
        # so introspection (pickle, pytest, typing, hasattr("__wrapped__")) behaves.
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotProvidedError(cls._why)


def _message(name: str, what: str) -> str:
    return (
        f"{name} ({what}) is not provided by funasr_realtime.compat; use the dashscope SDK for it "
        f"(from dashscope.audio.asr import {name})"
    )


class Transcription(metaclass=_NotProvided):
    """Stub: the SDK's file transcription (asynchronous, by URL). Not provided."""

    _why = _message("Transcription", "file transcription")


class TranscriptionResult(metaclass=_NotProvided):
    """Stub: a Gummy transcription result. Not provided."""

    _why = _message("TranscriptionResult", "Gummy translation recognizer")


class AsrPhraseManager(metaclass=_NotProvided):
    """Stub: the legacy Paraformer v1 hot-phrase manager. Not provided."""

    _why = _message("AsrPhraseManager", "legacy Paraformer v1 hot phrases")


class TranslationRecognizerRealtime(metaclass=_NotProvided):
    """Stub: Gummy real-time translation. Not provided."""

    _why = _message("TranslationRecognizerRealtime", "Gummy translation recognizer")


class TranslationRecognizerChat(metaclass=_NotProvided):
    """Stub: Gummy translation for one utterance. Not provided."""

    _why = _message("TranslationRecognizerChat", "Gummy translation recognizer")


class TranslationRecognizerCallback(metaclass=_NotProvided):
    """Stub: Gummy's callback; subclassing is allowed, instantiating raises. Not provided."""

    _why = _message("TranslationRecognizerCallback", "Gummy translation recognizer")


class Translation(metaclass=_NotProvided):
    """Stub: a Gummy translation. Not provided."""

    _why = _message("Translation", "Gummy translation recognizer")


class TranslationResult(metaclass=_NotProvided):
    """Stub: a Gummy translation result. Not provided."""

    _why = _message("TranslationResult", "Gummy translation recognizer")


class TranslationRecognizerResultPack(metaclass=_NotProvided):
    """Stub: Gummy's result pack. Not provided."""

    _why = _message("TranslationRecognizerResultPack", "Gummy translation recognizer")


#: The stubs of names compat will not implement.
NOT_PROVIDED: tuple[type, ...] = (
    Transcription,
    TranscriptionResult,
    AsrPhraseManager,
    TranslationRecognizerRealtime,
    TranslationRecognizerChat,
    TranslationRecognizerCallback,
    Translation,
    TranslationResult,
    TranslationRecognizerResultPack,
)
