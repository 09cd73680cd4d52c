"""Typed DashScope real-time ASR messages, encoded and decoded at the edge.

Client → server messages are text frames ``{"header": {...}, "payload": {...}}``
(run-task, continue-task, finish-task); audio travels as raw binary frames.
Server → client events are task-started, result-generated, task-finished and task-failed.
Reference: dashscope-protocol.md §2-§4.

Decoding never trusts the peer: malformed JSON, missing fields and unknown events raise
:class:`~funasr_realtime.protocol.errors.RemoteProtocolError`. Unknown *fields* inside a
sentence or word are kept (``model_extra``), because the service adds fields over time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import RemoteProtocolError

__all__ = [
    "ClientMessage",
    "ContinueTask",
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


class Word(BaseModel):
    """A word (or, for Chinese, a token) with times in milliseconds."""

    model_config = ConfigDict(extra="allow", frozen=True)

    begin_time: int
    end_time: int
    text: str
    punctuation: str = ""


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

    @property
    def is_final(self) -> bool:
        """``sentence_end`` when the server sent it; otherwise whether ``end_time`` is set."""
        if self.sentence_end is not None:
            return self.sentence_end
        return self.end_time is not None

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


# --------------------------------------------------------------------------- client → server


@dataclass(frozen=True, slots=True)
class RunTask:
    """Start a recognition task. ``parameters`` comes from ``RecognitionParams.to_parameters``."""

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
    """Update the task mid-stream (Fun-ASR context biasing)."""

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
    task_id: str
    sentence: Sentence
    usage: Usage | None = None

    def encode(self) -> str:
        usage = None if self.usage is None else self.usage.model_dump()
        return _encode_server(
            "result-generated", self.task_id, {"output": {"sentence": self.sentence.to_wire()}, "usage": usage}
        )


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


class _ServerHeader(_Lenient):
    task_id: str
    event: str
    error_code: str | None = None
    error_message: str | None = None


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
        envelope = _ServerEnvelope.model_validate_json(text)
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
        return TaskFailed(header.task_id, header.error_code or "Unknown", header.error_message or "")
    raise RemoteProtocolError(f"unknown server event {header.event[:64]!r}")


class _ClientHeader(_Lenient):
    action: str
    task_id: str
    streaming: str | None = None


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
        envelope = _ClientEnvelope.model_validate_json(text)
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
    raise RemoteProtocolError(f"Invalid payload data: unknown action {header.action[:64]!r}")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(part) for part in err["loc"]) or "message"
    return f"{location}: {err['msg']}"
