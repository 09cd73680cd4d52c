"""Transcript writers: plain text, JSON, SubRip (srt) and WebVTT (vtt).

Every writer takes one :class:`Transcript` and returns the document's text, ending with a
newline. :func:`json_line` is the one-line JSON document of a file, for JSON Lines output
when several files go to one stream.

Subtitle cues follow the usual limits (:class:`SubtitleLimits`: about 42 characters a line,
2 lines a cue, at most 7 s a cue) and never span two sentences. A sentence is cut between
words, on the words' own times (milliseconds from the start of the file); a sentence
without word times (or whose words do not cover its text) is cut between words of its
text, with times shared out over the sentence's span in proportion to the characters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..protocol import Sentence
from ..text import join_texts, word_spans

__all__ = ["FORMATS", "Cue", "SubtitleLimits", "Transcript", "cues", "json_line", "render"]


@dataclass(slots=True)
class Transcript:
    """The final sentences of one file and what the service reported about it."""

    path: Path
    sentences: list[Sentence] = field(default_factory=list)
    duration_ms: int | None = None
    billed_seconds: int = 0
    task_ids: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The sentences joined: with spaces, but none next to Chinese or Japanese text."""
        return join_texts(s.text for s in self.sentences)


@dataclass(frozen=True, slots=True)
class SubtitleLimits:
    """How big a subtitle cue may get. A single word longer than a line is kept whole."""

    line_chars: int = 42
    lines: int = 2
    cue_ms: int = 7000

    def __post_init__(self) -> None:
        if self.line_chars < 1 or self.lines < 1 or self.cue_ms < 1:
            raise ValueError("subtitle limits must be positive")


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle: its span (file milliseconds) and its lines."""

    begin: int
    end: int
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Token:
    """A word located in its sentence's text: ``text[start:stop]`` is the word, the punctuation
    after it and the spaces before the next word."""

    start: int
    stop: int
    begin: int
    end: int


def _txt(transcript: Transcript, limits: SubtitleLimits) -> str:
    return "".join(f"{s.text}\n" for s in transcript.sentences if s.text)


def _document(transcript: Transcript) -> dict[str, Any]:
    return {
        "file": str(transcript.path),
        "text": transcript.text,
        "duration_ms": transcript.duration_ms,
        "billed_seconds": transcript.billed_seconds,
        "task_ids": transcript.task_ids,
        "sentences": [s.to_wire() for s in transcript.sentences],
    }


def _json(transcript: Transcript, limits: SubtitleLimits) -> str:
    return json.dumps(_document(transcript), ensure_ascii=False, indent=2) + "\n"


def json_line(transcript: Transcript) -> str:
    """The JSON document of one file on one line (a JSON Lines record), newline included."""
    return json.dumps(_document(transcript), ensure_ascii=False, separators=(",", ":")) + "\n"


# --------------------------------------------------------------------------- subtitle cues


def cues(transcript: Transcript, limits: SubtitleLimits | None = None) -> list[Cue]:
    """The transcript's subtitle cues, in order, each within ``limits``."""
    limits = limits or SubtitleLimits()
    return [cue for sentence in transcript.sentences if sentence.text for cue in _sentence_cues(sentence, limits)]


def _sentence_cues(sentence: Sentence, limits: SubtitleLimits) -> list[Cue]:
    text = sentence.text
    tokens = _word_tokens(sentence) or _text_tokens(sentence)
    if not tokens:
        return []
    groups: list[list[_Token]] = [[]]
    for token in tokens:
        if groups[-1] and not _fits(text, [*groups[-1], token], limits):
            groups.append([])
        groups[-1].append(token)
    return [Cue(group[0].begin, max(group[0].begin, group[-1].end), _wrap(text, group, limits)) for group in groups]


def _word_tokens(sentence: Sentence) -> list[_Token]:
    """The sentence's words located in its text; [] when there are none or they miss some of it
    (a word not found, or letters between words that no word accounts for)."""
    text = sentence.text
    found: list[tuple[int, int, int, int]] = []
    cursor = 0
    for word in sentence.words:
        needle = word.text.strip()
        if not needle:
            continue
        start = text.find(needle, cursor)
        if start < 0 or any(c.isalnum() for c in text[cursor:start]):
            return []
        found.append((start, start + len(needle), word.begin_time, word.end_time))
        cursor = start + len(needle)
    if not found or any(c.isalnum() for c in text[cursor:]):
        return []
    stops = [start for start, *_ in found[1:]] + [len(text)]
    return [_Token(start, stop, begin, end) for (start, _, begin, end), stop in zip(found, stops, strict=True)]


def _text_tokens(sentence: Sentence) -> list[_Token]:
    """The words of the text, timed in proportion to their place in it (no word times known).

    A Chinese or Japanese character is a word of its own: such text has no spaces to cut at.
    """
    text = sentence.text
    begin = sentence.begin_time
    end = sentence.end_time if sentence.end_time is not None else begin
    spans = word_spans(text)

    def at(offset: int) -> int:
        return begin + (end - begin) * offset // max(1, len(text))

    stops = [start for start, _ in spans[1:]] + [len(text)]
    return [_Token(first, stop, at(first), at(last)) for (first, last), stop in zip(spans, stops, strict=True)]


def _fits(text: str, group: Sequence[_Token], limits: SubtitleLimits) -> bool:
    lines = _greedy_lines(text, group, limits.line_chars)
    return len(lines) <= limits.lines and group[-1].end - group[0].begin <= limits.cue_ms


def _span(text: str, first: _Token, last: _Token) -> str:
    return text[first.start : last.stop].strip()


def _greedy_lines(text: str, group: Sequence[_Token], width: int) -> list[tuple[int, int]]:
    """Token index ranges ``[i, j)`` of lines filled word by word up to ``width`` characters."""
    lines: list[tuple[int, int]] = []
    first = 0
    for index in range(1, len(group) + 1):
        if index == len(group) or len(_span(text, group[first], group[index])) > width:
            lines.append((first, index))
            first = index
    return lines


def _wrap(text: str, group: Sequence[_Token], limits: SubtitleLimits) -> tuple[str, ...]:
    """The cue's lines, as even in length as the line count allows (readers prefer that to a
    full first line and a stub)."""
    lines = _greedy_lines(text, group, limits.line_chars)
    if len(lines) > 1:
        total = len(_span(text, group[0], group[-1]))
        for width in range(math.ceil(total / len(lines)), limits.line_chars):
            even = _greedy_lines(text, group, width)
            if len(even) <= len(lines):
                lines = even
                break
    return tuple(_span(text, group[i], group[j - 1]) for i, j in lines)


def _timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _cue_texts(transcript: Transcript, separator: str, limits: SubtitleLimits) -> list[str]:
    return [
        f"{_timestamp(cue.begin, separator)} --> {_timestamp(cue.end, separator)}\n"
        + "".join(f"{line}\n" for line in cue.lines)
        for cue in cues(transcript, limits)
    ]


def _srt(transcript: Transcript, limits: SubtitleLimits) -> str:
    return "\n".join(f"{n}\n{cue}" for n, cue in enumerate(_cue_texts(transcript, ",", limits), start=1))


def _vtt(transcript: Transcript, limits: SubtitleLimits) -> str:
    return "\n".join(["WEBVTT\n", *_cue_texts(transcript, ".", limits)])


_WRITERS: dict[str, Callable[[Transcript, SubtitleLimits], str]] = {
    "txt": _txt,
    "json": _json,
    "srt": _srt,
    "vtt": _vtt,
}

#: The ``--output`` choices.
FORMATS: tuple[str, ...] = tuple(_WRITERS)


def render(format: str, transcript: Transcript, limits: SubtitleLimits | None = None) -> str:
    """The transcript as a ``format`` document (one of :data:`FORMATS`); ``limits`` shape srt and vtt cues."""
    return _WRITERS[format](transcript, limits or SubtitleLimits())
