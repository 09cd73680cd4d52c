"""Engine contracts shared by the local server's recognition back ends.

An :class:`Engine` is long-lived and thread-safe; it hands out one
:class:`Utterance` per sentence.  An utterance decodes a single sentence of
16 kHz mono s16le PCM and is used from one thread at a time:

1. ``feed(pcm16k)`` any number of times; each call returns the current partial
   text (``""`` when nothing is recognised yet);
2. ``end()`` once, returning the final text and the words as
   ``(text, begin_ms, end_ms)`` relative to the first sample fed;
3. ``close()`` always (also after ``end()``, and safe to repeat) to return
   resources such as a pooled decoder.

:class:`Hypothesis` and :class:`WordTiming` are what the transcriber reports
upward; their times are relative to the start of the task's audio.

Hot words: an engine that can apply them is a :class:`HotWordEngine`; a task with a vocabulary
decodes on the :class:`BiasedEngine` view ``with_hot_words`` returns, and closes it when the task
ends.  Other engines (the synthetic one) ignore hot words.  An engine that also takes the task's
context (``input.context``) is a :class:`ContextEngine`: every task decodes on the
:class:`ContextView` ``with_context`` returns, which a continue-task's new context updates.

Whole-task engines: a :class:`TranscribingEngine` (the ``replay`` engine) makes each task's
results itself, with no VAD: the task feeds its :class:`TaskTranscriber` instead of the
server's VAD transcriber, and sends the :class:`Recorded` results it returns unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...protocol.context import ContextMessage
from ...protocol.messages import Sentence, Usage
from ...protocol.vocabulary import HotWord

__all__ = [
    "BiasedEngine",
    "ContextEngine",
    "ContextView",
    "Engine",
    "HotWordEngine",
    "Hypothesis",
    "Recorded",
    "TaskTranscriber",
    "TranscribingEngine",
    "Utterance",
    "WordTiming",
]


@dataclass(frozen=True, slots=True)
class WordTiming:
    text: str
    begin_ms: int  # relative to the start of the task's audio (not the utterance)
    end_ms: int


@dataclass(frozen=True, slots=True)
class Hypothesis:
    sentence_index: int  # 0-based index of the sentence within the task
    begin_ms: int  # sentence start, task-relative ms
    end_ms: int | None  # None while partial
    text: str
    words: tuple[WordTiming, ...]
    final: bool


class Utterance(Protocol):
    """Decodes one sentence; see the module docstring for the call order."""

    def feed(self, pcm16k: bytes) -> str: ...

    def end(self) -> tuple[str, list[tuple[str, int, int]]]: ...

    def close(self) -> None: ...


class Engine(Protocol):
    """A recogniser factory; ``new_utterance`` may be called from any thread."""

    name: str  # "pocketsphinx" | "synthetic"
    synthetic: bool  # True only for the placeholder engine

    def new_utterance(self) -> Utterance: ...


class BiasedEngine(Engine, Protocol):
    """An engine's view for one task's hot words (see :class:`HotWordEngine`).

    ``hot_words`` lists the words it actually biases toward (empty when it could apply none);
    ``close()`` gives the view's resources back and is safe to repeat.  Utterances already
    handed out stay valid until closed.
    """

    hot_words: tuple[str, ...]

    def close(self) -> None: ...


@runtime_checkable
class HotWordEngine(Engine, Protocol):
    """An engine that can apply a vocabulary's hot words; engines without this ignore them."""

    def with_hot_words(self, words: Sequence[HotWord]) -> BiasedEngine: ...


@runtime_checkable
class ContextView(BiasedEngine, Protocol):
    """A :class:`ContextEngine`'s view for one task; ``set_context`` applies from the next sentence."""

    def set_context(self, context: Sequence[ContextMessage]) -> None: ...


@runtime_checkable
class ContextEngine(Engine, Protocol):
    """An engine that uses a task's hot words and context (bounded as the service bounds it)."""

    def with_context(self, words: Sequence[HotWord], context: Sequence[ContextMessage]) -> ContextView: ...


@dataclass(frozen=True, slots=True)
class Recorded:
    """A result as the service sends it (sentence and usage), which the task sends unchanged.

    Only the context report is added to a final of a task with context, as for any engine.
    """

    sentence: Sentence
    usage: Usage | None


class TaskTranscriber(Protocol):
    """One task's audio in, its results out, with the call order of :class:`~..transcriber.Transcriber`:
    ``feed`` any number of times, ``finish`` once at end of audio, ``close`` always.

    ``audio_ms`` is the audio fed so far (16 kHz mono s16le PCM); results are task-relative.
    """

    @property
    def audio_ms(self) -> int: ...

    def feed(self, pcm16k: bytes) -> Sequence[Hypothesis | Recorded]: ...

    def finish(self) -> Sequence[Hypothesis | Recorded]: ...

    def close(self) -> None: ...


@runtime_checkable
class TranscribingEngine(Engine, Protocol):
    """An engine that makes whole tasks' results itself, with no VAD (the ``replay`` engine)."""

    def new_transcriber(self) -> TaskTranscriber: ...
