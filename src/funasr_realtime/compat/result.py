"""``RecognitionResult`` and ``RecognitionCallback``, shaped like the SDK's (docs/PROTOCOL.md §4).

A sentence is a plain dict as the service sends it: ``begin_time``, ``end_time`` (None on
partials), ``text``, ``words`` (each ``begin_time``, ``end_time``, ``text``,
``punctuation``), plus ``sentence_end``, ``sentence_id`` and any field the service adds.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

__all__ = ["RecognitionCallback", "RecognitionResult"]

logger = logging.getLogger(__name__)

Sentence = dict[str, Any]


class RecognitionResult:
    """One streaming result (``on_event``), an error (``on_error``), or a whole ``call()``.

    Attributes as in the SDK: ``status_code`` (200 on success, see
    :mod:`funasr_realtime.compat.errors` otherwise), ``request_id`` (the task id), ``code``
    and ``message`` (empty on success), ``output`` (``{"sentence": ...}``) and ``usage``.
    """

    def __init__(
        self,
        *,
        status_code: int = HTTPStatus.OK,
        request_id: str = "",
        code: str = "",
        message: str = "",
        sentence: Sentence | list[Sentence] | None = None,
        usages: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status_code = int(status_code)
        self.request_id = request_id
        self.code = code
        self.message = message
        self.output: dict[str, Any] | None = None if sentence is None else {"sentence": sentence}
        self.usages = usages or []
        self.usage: dict[str, Any] | None = self.usages[-1]["usage"] if self.usages else None

    def get_sentence(self) -> Sentence | list[Sentence] | None:
        """The sentence dict (``on_event``), the list of final sentences (``call()``), or None."""
        if self.output is None:
            return None
        sentence: Sentence | list[Sentence] = self.output["sentence"]
        return sentence

    def get_request_id(self) -> str:
        """The task id of the task this result belongs to ("" if no task was started)."""
        return self.request_id

    def get_usage(self, sentence: Sentence | None) -> dict[str, Any] | None:
        """Billing of a final sentence (``{"duration": seconds}``); None for partials."""
        if not sentence or sentence.get("end_time") is None:
            return None
        for usage in self.usages:
            if usage["end_time"] == sentence["end_time"]:
                found: dict[str, Any] = usage["usage"]
                return found
        return None

    @staticmethod
    def is_sentence_end(sentence: Sentence | None) -> bool:
        """Whether ``sentence`` is final: its ``sentence_end`` flag, else whether ``end_time`` is set.

        The SDK looks at ``end_time`` only; the service documents ``sentence_end`` as the
        flag, and the two agree on every message it sends.
        """
        if not sentence:
            return False
        flag = sentence.get("sentence_end")
        if isinstance(flag, bool):
            return flag
        return sentence.get("end_time") is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "request_id": self.request_id,
            "code": self.code,
            "message": self.message,
            "output": self.output,
            "usage": self.usage,
        }

    def __str__(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def __repr__(self) -> str:
        return f"RecognitionResult({self.to_dict()!r})"


class RecognitionCallback:
    """Override the methods you need; all run on the task's callback thread, one at a time.

    Order per task: ``on_open`` (the task is ready for audio), ``on_event`` for each result,
    then exactly one of ``on_complete`` or ``on_error``, then ``on_close`` exactly once.
    A task that cannot start gets ``on_error`` and ``on_close`` without ``on_open``.
    """

    def on_open(self) -> None:
        """The task started: the server accepts audio now."""

    def on_event(self, result: RecognitionResult) -> None:
        """A partial or final sentence: ``result.get_sentence()``."""

    def on_complete(self) -> None:
        """Every result of the task was delivered (after ``stop()``)."""

    def on_error(self, result: RecognitionResult) -> None:
        """The task failed: ``result.status_code``, ``code``, ``message``, ``request_id``.

        The default logs a warning, so a failure is never silent.
        """
        logger.warning("recognition failed: %s %s: %s", result.status_code, result.code, result.message)

    def on_close(self) -> None:
        """The task is over and its connection closed. Always the last callback."""
