"""The replay fixture format: recorded ``result-generated`` payloads with the audio time each is due.

A fixture is one JSON object::

    {
      "format": "funasr-realtime-replay/1",
      "description": "what it records",
      "language": "zh",
      "results": [
        {"at_ms": 700, "sentence": {"begin_time": 240, "end_time": null, "text": "今天", ...}, "usage": null},
        ...
        {"at_ms": 3400, "sentence": {..., "end_time": 2760, "sentence_end": true}, "usage": {"duration": 4}}
      ]
    }

* ``sentence`` and ``usage`` are the payload's ``output.sentence`` and ``usage`` exactly as
  the service sends them (docs/PROTOCOL.md §3-§4), checked with the wire bounds of
  :class:`~funasr_realtime.protocol.Sentence`; unknown fields (``emo_tag``...) pass through.
* ``at_ms`` (optional): the task audio, in milliseconds, after which the result is sent.
  Without it: a final's ``end_time``, a partial's last word end (or its ``begin_time``), a
  heartbeat's ``begin_time``.  Due times must not decrease, and no result is due before
  the audio it describes (its ``end_time``, its words' ends, its ``begin_time``).
* A final (``sentence_end`` true, or ``end_time`` set) carries ``usage``; a partial or a
  heartbeat carries none (``null``), as on the wire.
* ``language`` (optional) is what the speech is in: metadata for tests and readers.  The
  service reports no language, so nothing of it goes on the wire.

:func:`load_fixture` takes a bundled name (:data:`BUNDLED`) or a path; any problem is one
:class:`~funasr_realtime.protocol.ConfigurationError` line naming the fixture.
"""

from __future__ import annotations

import itertools
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...protocol import ConfigurationError, Sentence, Usage

__all__ = ["BUNDLED", "FORMAT", "ReplayFixture", "ReplayResult", "load_fixture"]

#: The value of a fixture's ``format`` field.
FORMAT = "funasr-realtime-replay/1"
#: Fixtures shipped with the package, by name: ``serve --engine replay --replay NAME``.
BUNDLED: tuple[str, ...] = ("zh", "zh-en")
_PACKAGE = __name__.rpartition(".")[0]  # the bundled fixtures sit next to this module


class ReplayResult(BaseModel):
    """One recorded result: what is sent (``sentence``, ``usage``) and when (:attr:`due_ms`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at_ms: int | None = Field(default=None, ge=0)
    sentence: Sentence
    usage: Usage | None = None

    @property
    def final(self) -> bool:
        """A sentence's last result (not a heartbeat)."""
        return self.sentence.is_final and not self.sentence.heartbeat

    @property
    def due_ms(self) -> int:
        """The task audio after which the result is sent (``at_ms``, or its default)."""
        if self.at_ms is not None:
            return self.at_ms
        sentence = self.sentence
        if self.final and sentence.end_time is not None:
            return sentence.end_time
        return max([sentence.begin_time, *(w.end_time for w in sentence.words)])

    @model_validator(mode="after")
    def _usage_on_finals_only(self) -> ReplayResult:
        if self.final and (self.usage is None or self.sentence.end_time is None):
            raise ValueError("a final result needs end_time and usage")
        if not self.final and self.usage is not None:
            raise ValueError("only a final result carries usage")
        if self.due_ms < self.heard_ms:
            raise ValueError(f"due at {self.due_ms} ms, before the audio it describes ends ({self.heard_ms} ms)")
        return self

    @property
    def heard_ms(self) -> int:
        """Where the audio this result describes ends: its end, its words' ends, its beginning."""
        sentence = self.sentence
        return max([sentence.begin_time, sentence.end_time or 0, *(w.end_time for w in sentence.words)])


class ReplayFixture(BaseModel):
    """A recorded task: its results in the order they are sent (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["funasr-realtime-replay/1"]
    description: str = ""
    language: str | None = None
    results: tuple[ReplayResult, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_order(self) -> ReplayFixture:
        due = [r.due_ms for r in self.results]
        for index, (before, after) in enumerate(itertools.pairwise(due), start=1):
            if after < before:
                raise ValueError(f"results[{index}] is due at {after} ms, before the result ahead of it ({before} ms)")
        return self

    @property
    def duration_ms(self) -> int:
        """Audio a task needs for every result to come (the last due time)."""
        return self.results[-1].due_ms

    @property
    def finals(self) -> tuple[Sentence, ...]:
        """The final sentences, in order: the transcript the fixture records."""
        return tuple(r.sentence for r in self.results if r.final)


def load_fixture(source: str | Path) -> ReplayFixture:
    """The fixture named ``source`` (one of :data:`BUNDLED`) or stored at that path.

    Raises :class:`~funasr_realtime.protocol.ConfigurationError` (one line) when the file
    cannot be read or does not hold a valid fixture.
    """
    if isinstance(source, str) and source in BUNDLED:
        text = resources.files(_PACKAGE).joinpath(f"{source}.json").read_text(encoding="utf-8")
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            known = ", ".join(BUNDLED)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigurationError(f"replay fixture {source}: {reason} (bundled: {known})") from None
    try:
        return ReplayFixture.model_validate_json(text, context={"wire": True})
    except ValidationError as exc:
        raise ConfigurationError(f"replay fixture {source}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    """The first problem of ``exc`` on one line: where it is and what is wrong."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    message = " ".join(str(error["msg"]).split())
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"
