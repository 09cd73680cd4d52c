"""``RecognitionResult`` and ``RecognitionCallback``, shaped like the SDK's (docs/PROTOCOL.md §4).

A result is a ``dict``, as the SDK's (a ``DashScopeAPIResponse``) is, whose keys are also
attributes: ``result["status_code"]``, ``result.get("request_id")``, ``json.dumps(result)``
and ``result.status_code`` all work. Its keys, in the SDK's order: ``status_code``,
``request_id``, ``code``, ``message``, ``usages``, ``output`` and ``usage``; ``output`` is
dict-like too (``result.output.sentence``).

A sentence is a plain dict as the service sends it: ``begin_time``, ``end_time`` (None on
partials), ``text``, ``words`` (each ``begin_time``, ``end_time``, ``text``,
``punctuation``), plus ``sentence_end``, ``sentence_id`` and any field the service adds.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

__all__ = ["RecognitionCallback", "RecognitionOutput", "RecognitionResult", "RecognitionUsage"]

logger = logging.getLogger(__name__)

Sentence = dict[str, Any]


class AttrDict(dict[str, Any]):
    """A dict whose keys are also attributes, as the SDK's ``DictMixin``.

    Reading a missing attribute raises :class:`AttributeError` (so ``getattr(d, "x", None)``
    and ``hasattr`` behave); setting or deleting one sets or deletes the key. Subclasses
    declare their keys as annotations for type checkers and keep ``__slots__ = ()``, so
    every attribute is a key and nothing is hidden from ``json.dumps``.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({super().__repr__()})"


class RecognitionOutput(AttrDict):
    """``result.output``: ``{"sentence": ...}``, a sentence dict or (``call()``) a list of them."""

    __slots__ = ()
    sentence: Sentence | list[Sentence]


class RecognitionUsage(AttrDict):
    """``result.usage``: the billing of a final sentence, ``{"duration": seconds}``."""

    __slots__ = ()
    duration: int


class RecognitionResult(AttrDict):
    """One streaming result (``on_event``), an error (``on_error``), or a whole ``call()``.

    A dict with attribute access, as in the SDK: ``status_code`` (200 on success, see
    :mod:`funasr_realtime.compat.errors` otherwise), ``request_id`` (the task id), ``code``
    and ``message`` (empty on success), ``usages`` (``[{"end_time", "usage"}]``, empty
    rather than the SDK's None when there is none), ``output``
    (:class:`RecognitionOutput`, None on errors without sentences) and ``usage``
    (:class:`RecognitionUsage` of the last final, or None). ``str()`` is the SDK's JSON
    without ``usages`` (the SDK's own ``str()`` of a result raises, for want of
    ``headers``); ``json.dumps(result)`` has every key.
    """

    __slots__ = ()
    status_code: int
    request_id: str
    code: str
    message: str
    usages: list[dict[str, Any]]
    output: RecognitionOutput | None
    usage: RecognitionUsage | None

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
        usages = usages or []
        super().__init__(
            status_code=int(status_code),
            request_id=request_id,
            code=code,
            message=message,
            usages=usages,
            output=None if sentence is None else RecognitionOutput(sentence=sentence),
            usage=RecognitionUsage(usages[-1]["usage"]) if usages else None,
        )

    def get_sentence(self) -> Sentence | list[Sentence] | None:
        """The sentence dict (``on_event``), the list of final sentences (``call()``), or None."""
        if self.output is None:
            return None
        return self.output.sentence

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
        """The six keys the SDK prints (no ``usages``), as plain dicts."""
        return {
            "status_code": self.status_code,
            "request_id": self.request_id,
            "code": self.code,
            "message": self.message,
            "output": None if self.output is None else dict(self.output),
            "usage": None if self.usage is None else dict(self.usage),
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
