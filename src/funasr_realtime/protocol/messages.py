"""Typed DashScope real-time ASR messages, encoded and decoded at the edge.

Client → server messages are text frames ``{"header": {...}, "payload": {...}}``
(run-task, continue-task, finish-task); audio travels as raw binary frames.
Server → client events are task-started, result-generated, task-finished and task-failed.
Reference: docs/PROTOCOL.md §2-§4.

Decoding never trusts the peer: malformed JSON, missing fields and unknown events raise
:class:`~funasr_realtime.protocol.errors.RemoteProtocolError`. Unknown *fields* inside a
sentence or word are kept (``model_extra``), because the service adds fields over time.

Every number and string a decoder accepts is bounded (checked at decode time only, so code
that builds these objects itself is not constrained). No real service comes near the limits;
a peer that exceeds one is broken or hostile, and its message is a ``RemoteProtocolError``
instead of a value that overflows or misorders something downstream:

=========================================  ============================================
times (sentence and word begin/end, ms)    JSON integers (not booleans, floats or
                                           strings), 0 ≤ t ≤ :data:`MAX_TIME_MS` (2**31-1,
                                           about 24.8 days); ``end_time ≥ begin_time``
``sentence_id``                            integer, 0 ≤ id ≤ :data:`MAX_SENTENCE_ID` (2**31-1)
``usage.duration`` (s)                     integer, 0 ≤ d ≤ :data:`MAX_DURATION_S` (2**31-1)
task ids                                   at most :data:`MAX_TASK_ID_CHARS` (128) of
                                           ``A-Z a-z 0-9 _ . : -`` (uuid4 hex and uuid forms)
sentence text / words                      at most :data:`MAX_TEXT_CHARS` (65536) characters /
                                           :data:`MAX_WORDS` (10000) words
word text / punctuation                    at most :data:`MAX_WORD_CHARS` (1024) characters
event names                                at most 64 characters; an unknown one is quoted in
                                           the error only if it looks like an event name
task-failed ``error_code`` / message       kept, but cut to 128 / 2048 characters (the
                                           failure itself must not be lost)
=========================================  ============================================
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from .errors import RemoteProtocolError

__all__ = [
    "MAX_DURATION_S",
    "MAX_SENTENCE_ID",
    "MAX_TASK_ID_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_TIME_MS",
    "MAX_WORDS",
    "MAX_WORD_CHARS",
    "ClientMessage",
    "ContinueTask",
    "Emotion",
    "FinishTask",
    "ResultGenerated",
    "RunTask",
    "Sentence",
    "ServerEvent",
    "TaskFailed",
    "TaskFinished",
    "TaskStarted",
    "Usage",
    "Word",
    "decode_client_message",
    "decode_server_event",
]


#: Largest time (ms) a decoder accepts: 2**31-1, about 24.8 days of audio.
MAX_TIME_MS = 2**31 - 1
#: Largest ``sentence_id`` a decoder accepts.
MAX_SENTENCE_ID = 2**31 - 1
#: Largest ``usage.duration`` (billed seconds) a decoder accepts.
MAX_DURATION_S = 2**31 - 1
#: Longest task id a decoder accepts (the service and the SDK use 32 hex digits).
MAX_TASK_ID_CHARS = 128
#: Longest sentence text a decoder accepts (a 1 MiB frame holds less anyway in CJK).
MAX_TEXT_CHARS = 65_536
#: Most words in one sentence a decoder accepts.
MAX_WORDS = 10_000
#: Longest word text or punctuation a decoder accepts.
MAX_WORD_CHARS = 1024

_MAX_EVENT_CHARS = 64
_MAX_ERROR_CODE_CHARS = 128
_MAX_ERROR_MESSAGE_CHARS = 2048
_TASK_ID = re.compile(r"[A-Za-z0-9_.:-]*")
_EVENT_NAME = re.compile(r"[a-z][a-z-]*")

# Passed as pydantic's validation context by the decoders: the bounds below apply to what
# the peer sends, not to objects this library (or its user) builds, e.g. merged sentences.
_WIRE: dict[str, bool] = {"wire": True}


def _on_wire(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get("wire"))


def _wire_int(value: Any, limit: int) -> None:
    """A JSON integer in ``[0, limit]`` (pydantic alone would take ``true``, ``1e3``, ``"7"``)."""
    if value is None:
        return
    if type(value) is not int:
        raise ValueError(f"must be a JSON integer, not {type(value).__name__}")
    if not 0 <= value <= limit:
        # Never echo the number: it may have thousands of digits.
        raise ValueError(f"out of range (0 to {limit})")


def _wire_text(value: Any, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise ValueError(f"longer than {limit} characters")


def _check_wire_object(data: Any, ints: dict[str, int], texts: dict[str, int]) -> None:
    """Bound a decoded JSON object's fields, in one call per object (the hot path decodes
    every partial result): integers in range, texts not too long, begin <= end."""
    if not isinstance(data, dict):
        return
    for name, limit in ints.items():
        try:
            _wire_int(data.get(name), limit)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    for name, limit in texts.items():
        try:
            _wire_text(data.get(name), limit)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    begin, end = data.get("begin_time"), data.get("end_time")
    if type(begin) is int and type(end) is int and end < begin:
        raise ValueError("end_time is before begin_time")


_WORD_INTS = {"begin_time": MAX_TIME_MS, "end_time": MAX_TIME_MS}
_WORD_TEXTS = {"text": MAX_WORD_CHARS, "punctuation": MAX_WORD_CHARS}
_SENTENCE_INTS = {"begin_time": MAX_TIME_MS, "end_time": MAX_TIME_MS, "sentence_id": MAX_SENTENCE_ID}
_SENTENCE_TEXTS = {"text": MAX_TEXT_CHARS}


class Word(BaseModel):
    """A word (or, for Chinese, a token) with times in milliseconds."""

    model_config = ConfigDict(extra="allow", frozen=True)

    begin_time: int
    end_time: int
    text: str
    punctuation: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any, info: ValidationInfo) -> Any:
        if _on_wire(info):
            _check_wire_object(data, _WORD_INTS, _WORD_TEXTS)
        return data


@dataclass(frozen=True, slots=True)
class Emotion:
    """The emotion of a final sentence: ``emo_tag`` (``positive``, ``negative``, ``neutral``)
    and ``emo_confidence``, sent by paraformer-realtime-8k-v2 with semantic punctuation off."""

    tag: str
    confidence: float | None = None


class Sentence(BaseModel):
    """One sentence of a ``result-generated`` event.

    Partial results are cumulative (each replaces the previous text of the same sentence).
    Times are milliseconds relative to the start of the task's audio, unless the object was
    produced by :meth:`shifted`, which moves it onto a stream timeline.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    begin_time: int = 0
    end_time: int | None = None
    text: str = ""
    words: tuple[Word, ...] = ()
    heartbeat: bool | None = None
    sentence_end: bool | None = None
    sentence_id: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any, info: ValidationInfo) -> Any:
        if _on_wire(info):
            _check_wire_object(data, _SENTENCE_INTS, _SENTENCE_TEXTS)
            words = data.get("words") if isinstance(data, dict) else None
            # Checked before the words are built, so a huge list costs no Word objects.
            if isinstance(words, list) and len(words) > MAX_WORDS:
                raise ValueError(f"more than {MAX_WORDS} words")
        return data

    @property
    def is_final(self) -> bool:
        """``sentence_end`` when the server sent it; otherwise whether ``end_time`` is set."""
        if self.sentence_end is not None:
            return self.sentence_end
        return self.end_time is not None

    @property
    def emotion(self) -> Emotion | None:
        """The sentence's emotion, when the model reports one (see :class:`Emotion`)."""
        extra = self.model_extra or {}
        tag = extra.get("emo_tag")
        if not isinstance(tag, str) or not tag:
            return None
        confidence = extra.get("emo_confidence")
        if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
            return Emotion(tag, float(confidence))
        return Emotion(tag)

    def shifted(self, offset_ms: int) -> Sentence:
        """Return a copy with every time moved ``offset_ms`` later."""
        if offset_ms == 0:
            return self
        words = tuple(
            w.model_copy(update={"begin_time": w.begin_time + offset_ms, "end_time": w.end_time + offset_ms})
            for w in self.words
        )
        end = None if self.end_time is None else self.end_time + offset_ms
        return self.model_copy(update={"begin_time": self.begin_time + offset_ms, "end_time": end, "words": words})

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as the service sends it (``end_time`` null on partials)."""
        return self.model_dump(mode="json")


class Usage(BaseModel):
    """Billing information; ``duration`` is the billed seconds of the task so far."""

    model_config = ConfigDict(extra="allow", frozen=True)

    duration: int = 0

    @field_validator("duration", mode="before")
    @classmethod
    def _bounded_duration(cls, value: Any, info: ValidationInfo) -> Any:
        if _on_wire(info):
            _wire_int(value, MAX_DURATION_S)
        return value


# --------------------------------------------------------------------------- client → server


@dataclass(frozen=True, slots=True)
class RunTask:
    """Start a recognition task. ``parameters`` comes from ``RecognitionParams.to_parameters``,
    ``input`` from ``RecognitionParams.to_input`` (``{}``, or the stream's ``context``)."""

    task_id: str
    model: str
    parameters: dict[str, Any]
    resources: tuple[dict[str, str], ...] = ()
    input: dict[str, Any] = field(default_factory=dict)
    action: Literal["run-task"] = "run-task"

    def encode(self) -> str:
        payload: dict[str, Any] = {
            "task_group": "audio",
            "task": "asr",
            "function": "recognition",
            "model": self.model,
            "parameters": self.parameters,
            "input": self.input,
        }
        if self.resources:
            payload["resources"] = list(self.resources)
        return _encode_client(self.action, self.task_id, payload)


@dataclass(frozen=True, slots=True)
class ContinueTask:
    """Update the task mid-stream (Fun-ASR context biasing): ``input`` is ``{"context": [...]}``."""

    task_id: str
    input: dict[str, Any]
    action: Literal["continue-task"] = "continue-task"

    def encode(self) -> str:
        return _encode_client(self.action, self.task_id, {"input": self.input})


@dataclass(frozen=True, slots=True)
class FinishTask:
    """No more audio: flush the remaining results, then send task-finished."""

    task_id: str
    action: Literal["finish-task"] = "finish-task"

    def encode(self) -> str:
        return _encode_client(self.action, self.task_id, {"input": {}})


ClientMessage = RunTask | ContinueTask | FinishTask


def _encode_client(action: str, task_id: str, payload: dict[str, Any]) -> str:
    header = {"action": action, "task_id": task_id, "streaming": "duplex"}
    return json.dumps({"header": header, "payload": payload}, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- server → client


@dataclass(frozen=True, slots=True)
class TaskStarted:
    task_id: str

    def encode(self) -> str:
        return _encode_server("task-started", self.task_id, {})


@dataclass(frozen=True, slots=True)
class ResultGenerated:
    """A result. ``debug`` is the local server's own diagnostics, sent as
    ``payload.output.local_debug`` (never by the service; DashScope clients ignore it)."""

    task_id: str
    sentence: Sentence
    usage: Usage | None = None
    debug: dict[str, Any] | None = None

    def encode(self) -> str:
        usage = None if self.usage is None else self.usage.model_dump()
        output: dict[str, Any] = {"sentence": self.sentence.to_wire()}
        if self.debug:
            output["local_debug"] = self.debug
        return _encode_server("result-generated", self.task_id, {"output": output, "usage": usage})


@dataclass(frozen=True, slots=True)
class TaskFinished:
    task_id: str
    usage: Usage | None = None

    def encode(self) -> str:
        usage = None if self.usage is None else self.usage.model_dump()
        return _encode_server("task-finished", self.task_id, {"output": {}, "usage": usage})


@dataclass(frozen=True, slots=True)
class TaskFailed:
    task_id: str
    error_code: str
    error_message: str

    def encode(self) -> str:
        extra = {"error_code": self.error_code, "error_message": self.error_message}
        return _encode_server("task-failed", self.task_id, {}, extra)


ServerEvent = TaskStarted | ResultGenerated | TaskFinished | TaskFailed


def _encode_server(event: str, task_id: str, payload: dict[str, Any], extra: dict[str, str] | None = None) -> str:
    header: dict[str, Any] = {"task_id": task_id, "event": event, "attributes": {}}
    if extra:
        header.update(extra)
    return json.dumps({"header": header, "payload": payload}, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- decoding


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _wire_task_id(value: Any) -> Any:
    if isinstance(value, str) and (len(value) > MAX_TASK_ID_CHARS or not _TASK_ID.fullmatch(value)):
        raise ValueError(f"not a task id (at most {MAX_TASK_ID_CHARS} of A-Z a-z 0-9 _ . : -)")
    return value


def _cut(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[: limit - 1] + "…"


class _ServerHeader(_Lenient):
    task_id: str
    event: str
    error_code: str | None = None
    error_message: str | None = None

    @field_validator("task_id", mode="before")
    @classmethod
    def _bounded_task_id(cls, value: Any) -> Any:
        return _wire_task_id(value)

    @field_validator("event", mode="before")
    @classmethod
    def _bounded_event(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) > _MAX_EVENT_CHARS:
            raise ValueError(f"event name longer than {_MAX_EVENT_CHARS} characters")
        return value


class _Output(_Lenient):
    sentence: Sentence | None = None


class _ServerPayload(_Lenient):
    output: _Output | None = None
    usage: Usage | None = None


class _ServerEnvelope(_Lenient):
    header: _ServerHeader
    payload: _ServerPayload | None = None


def decode_server_event(text: str | bytes) -> ServerEvent:
    """Decode one server text frame.

    Raises :class:`RemoteProtocolError` for malformed JSON, a missing header, an unknown
    event name, or a ``result-generated`` event without a sentence.
    """
    try:
        envelope = _ServerEnvelope.model_validate_json(text, context=_WIRE)
    except ValidationError as exc:
        raise RemoteProtocolError(f"malformed server message: {_first_error(exc)}") from exc
    header = envelope.header
    payload = envelope.payload or _ServerPayload()
    if header.event == "task-started":
        return TaskStarted(header.task_id)
    if header.event == "result-generated":
        if payload.output is None or payload.output.sentence is None:
            raise RemoteProtocolError("result-generated without payload.output.sentence")
        return ResultGenerated(header.task_id, payload.output.sentence, payload.usage)
    if header.event == "task-finished":
        return TaskFinished(header.task_id, payload.usage)
    if header.event == "task-failed":
        code = _cut(header.error_code, _MAX_ERROR_CODE_CHARS) or "Unknown"
        return TaskFailed(header.task_id, code, _cut(header.error_message, _MAX_ERROR_MESSAGE_CHARS) or "")
    # Quote the name only when it looks like one: a hostile peer's text (a key it echoes,
    # control characters) must not travel into exception texts and logs.
    if _EVENT_NAME.fullmatch(header.event):
        raise RemoteProtocolError(f"unknown server event {header.event!r}")
    raise RemoteProtocolError(f"unknown server event ({len(header.event)} characters, not shown)")


class _ClientHeader(_Lenient):
    action: str
    task_id: str
    streaming: str | None = None

    @field_validator("task_id", mode="before")
    @classmethod
    def _bounded_task_id(cls, value: Any) -> Any:
        return _wire_task_id(value)


class _ClientPayload(_Lenient):
    model: str | None = None
    parameters: dict[str, Any] | None = None
    resources: list[dict[str, str]] | None = None
    input: dict[str, Any] | None = None
    task_group: str | None = None
    task: str | None = None
    function: str | None = None


class _ClientEnvelope(_Lenient):
    header: _ClientHeader
    payload: _ClientPayload


def decode_client_message(text: str | bytes) -> ClientMessage:
    """Decode one client text frame (the server side of the protocol).

    Raises :class:`RemoteProtocolError` with the message the service uses
    (``Invalid payload data``) for anything that is not a well-formed instruction.
    """
    try:
        envelope = _ClientEnvelope.model_validate_json(text, context=_WIRE)
    except ValidationError as exc:
        raise RemoteProtocolError(f"Invalid payload data: {_first_error(exc)}") from exc
    header, payload = envelope.header, envelope.payload
    if header.action == "run-task":
        if payload.model is None or payload.input is None:
            raise RemoteProtocolError("Invalid payload data: run-task needs payload.model and payload.input")
        return RunTask(
            task_id=header.task_id,
            model=payload.model,
            parameters=payload.parameters or {},
            resources=tuple(payload.resources or ()),
            input=payload.input,
        )
    if header.action == "continue-task":
        return ContinueTask(header.task_id, payload.input or {})
    if header.action == "finish-task":
        return FinishTask(header.task_id)
    if _EVENT_NAME.fullmatch(header.action[:_MAX_EVENT_CHARS]):
        raise RemoteProtocolError(f"Invalid payload data: unknown action {header.action[:_MAX_EVENT_CHARS]!r}")
    raise RemoteProtocolError(f"Invalid payload data: unknown action ({len(header.action)} characters, not shown)")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(part) for part in err["loc"]) or "message"
    return f"{location}: {err['msg']}"
