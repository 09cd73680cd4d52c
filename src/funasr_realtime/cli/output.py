"""Transcript writers: plain text, JSON, SubRip (srt) and WebVTT (vtt).

Cue times come from the final sentences' ``begin_time`` / ``end_time`` (milliseconds from
the start of the file). Every writer takes one :class:`Transcript` and returns the
document's text, ending with a newline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol import Sentence

__all__ = ["FORMATS", "Transcript", "render"]


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
        return " ".join(s.text for s in self.sentences if s.text)


def _txt(transcript: Transcript) -> str:
    return "".join(f"{s.text}\n" for s in transcript.sentences if s.text)


def _json(transcript: Transcript) -> str:
    document = {
        "file": str(transcript.path),
        "text": transcript.text,
        "duration_ms": transcript.duration_ms,
        "billed_seconds": transcript.billed_seconds,
        "task_ids": transcript.task_ids,
        "sentences": [s.to_wire() for s in transcript.sentences],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _cues(transcript: Transcript, separator: str) -> list[str]:
    cues = []
    for sentence in transcript.sentences:
        if not sentence.text:
            continue
        end = sentence.end_time if sentence.end_time is not None else sentence.begin_time
        span = f"{_timestamp(sentence.begin_time, separator)} --> {_timestamp(end, separator)}"
        cues.append(f"{span}\n{sentence.text}\n")
    return cues


def _srt(transcript: Transcript) -> str:
    return "\n".join(f"{n}\n{cue}" for n, cue in enumerate(_cues(transcript, ","), start=1))


def _vtt(transcript: Transcript) -> str:
    return "\n".join(["WEBVTT\n", *_cues(transcript, ".")])


_WRITERS: dict[str, Callable[[Transcript], str]] = {"txt": _txt, "json": _json, "srt": _srt, "vtt": _vtt}

#: The ``--output`` choices.
FORMATS: tuple[str, ...] = tuple(_WRITERS)


def render(format: str, transcript: Transcript) -> str:
    """The transcript as a ``format`` document (one of :data:`FORMATS`)."""
    return _WRITERS[format](transcript)
