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
ends.  Other engines (the synthetic one) ignore hot words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...protocol.vocabulary import HotWord

__all__ = ["BiasedEngine", "Engine", "HotWordEngine", "Hypothesis", "Utterance", "WordTiming"]


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
