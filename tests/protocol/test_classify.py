"""The one classification of errors (docs/PROTOCOL.md §7): every error class, code and status."""

from __future__ import annotations

import importlib
import re

import pytest

import funasr_realtime as fr
from funasr_realtime.protocol import (
    PERMANENT_ERROR_CODES,
    AudioDropped,
    AudioError,
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    ErrorKind,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    TaskFailedError,
    TransportError,
    TransportTimeout,
    classify,
    is_retryable,
)

K = ErrorKind

# --------------------------------------------------------------------------- task-failed codes

TASK_CODES = {
    "InvalidApiKey": K.AUTHENTICATION,
    "AccessDenied": K.PERMISSION,
    "AccessDenied.Unpurchased": K.PERMISSION,
    "Model.AccessDenied": K.PERMISSION,
    "Workspace.AccessDenied": K.PERMISSION,
    "AllocationQuota.FreeTierOnly": K.QUOTA,
    "Arrearage": K.BILLING,
    "ModelNotFound": K.NOT_FOUND,
    "Model.NotExist": K.NOT_FOUND,
    "NotFound": K.NOT_FOUND,
    "InvalidParameter": K.INVALID_REQUEST,
    "InvalidParameters": K.INVALID_REQUEST,
    "BadRequest.EmptyInput": K.INVALID_REQUEST,
    "BadRequest.EmptyParameters": K.INVALID_REQUEST,
    "BadRequest.EmptyModel": K.INVALID_REQUEST,
    "InvalidURL": K.INVALID_REQUEST,
    "UnsupportedOperation": K.INVALID_REQUEST,
    "DataInspectionFailed": K.CONTENT_POLICY,
    "NO_VALID_AUDIO_ERROR": K.BAD_AUDIO,
    "UnsupportedFormat": K.BAD_AUDIO,
    "NO_INPUT_AUDIO_ERROR": K.NO_SPEECH,
    "InternalError": K.SERVER,
    "GatewayTimeout": K.SERVER,
    "ModelUnavailable": K.UNAVAILABLE,
    "ModelServingError": K.UNAVAILABLE,
    "ServiceUnavailable": K.UNAVAILABLE,
    "CLIENT_ERROR": K.REQUEST_TIMEOUT,
    "RequestTimeOut": K.REQUEST_TIMEOUT,
    "ClientDisconnect": K.DISCONNECTED,
    "Throttling": K.RATE_LIMIT,
    "Throttling.RateQuota": K.RATE_LIMIT,
    "Throttling.BurstRate": K.RATE_LIMIT,
    "Throttling.AllocationQuota": K.RATE_LIMIT,
    # Codes this library does not know are transient server faults.
    "SomethingNew": K.SERVER,
    "Foo.AccessDenied": K.SERVER,
    "": K.SERVER,
}


@pytest.mark.parametrize(("code", "kind"), TASK_CODES.items())
def test_task_failures_are_classified_by_code(code: str, kind: ErrorKind) -> None:
    assert classify(TaskFailedError(code, "what the server said", "t1")) is kind


PERMANENT = [
    "InvalidApiKey",
    "AccessDenied",
    "AccessDenied.Unpurchased",
    "Model.AccessDenied",
    "Workspace.AccessDenied",
    "AllocationQuota.FreeTierOnly",
    "Arrearage",
    "ModelNotFound",
    "Model.NotExist",
    "NotFound",
    "InvalidParameter",
    "InvalidParameters",
    "BadRequest.EmptyInput",
    "BadRequest.EmptyParameters",
    "BadRequest.EmptyModel",
    "InvalidURL",
    "UnsupportedOperation",
    "DataInspectionFailed",
    "NO_VALID_AUDIO_ERROR",
    "UnsupportedFormat",
    "NO_INPUT_AUDIO_ERROR",
]


def test_the_permanent_codes_are_exactly_those_of_a_permanent_kind() -> None:
    assert set(PERMANENT) == PERMANENT_ERROR_CODES
    permanent = {code for code, kind in TASK_CODES.items() if not kind.retryable}
    assert permanent == PERMANENT_ERROR_CODES


@pytest.mark.parametrize("code", PERMANENT)
def test_every_permanent_code_has_a_permanent_kind(code: str) -> None:
    kind = classify(TaskFailedError(code, "x"))
    assert not kind.retryable
    assert kind in (
        K.AUTHENTICATION,
        K.PERMISSION,
        K.QUOTA,
        K.BILLING,
        K.NOT_FOUND,
        K.INVALID_REQUEST,
        K.CONTENT_POLICY,
        K.BAD_AUDIO,
        K.NO_SPEECH,
    )


MESSAGES = ["Invalid payload data", "invalid payload data: task_id", "Invalid parameter: rate"]


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("code", ["Unknown", "CLIENT_ERROR", "Throttling", "InternalError", "ModelUnavailable"])
def test_a_parameter_message_makes_any_transient_code_an_invalid_request(code: str, message: str) -> None:
    assert classify(TaskFailedError(code, message)) is K.INVALID_REQUEST


def test_a_permanent_code_wins_over_the_message() -> None:
    assert classify(TaskFailedError("InvalidApiKey", "invalid parameter: api key")) is K.AUTHENTICATION
    assert classify(TaskFailedError("Arrearage", "invalid payload data")) is K.BILLING


# --------------------------------------------------------------------------- handshake, close codes


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, K.INVALID_REQUEST),
        (401, K.AUTHENTICATION),
        (402, K.BILLING),
        (403, K.PERMISSION),
        (404, K.NOT_FOUND),
        (405, K.INVALID_REQUEST),
        (408, K.REQUEST_TIMEOUT),
        (426, K.INVALID_REQUEST),
        (429, K.RATE_LIMIT),
        (301, K.INVALID_REQUEST),
        (500, K.SERVER),
        (502, K.SERVER),
        (503, K.UNAVAILABLE),
        (504, K.SERVER),
        (599, K.SERVER),
    ],
)
def test_rejected_handshakes_are_classified_by_status(status: int, kind: ErrorKind) -> None:
    assert classify(HandshakeRejected(status)) is kind


@pytest.mark.parametrize("code", [1002, 1003, 1007, 1008, 1010])
def test_protocol_and_policy_close_codes_are_protocol_violations(code: int) -> None:
    assert classify(ConnectionClosed(code, "policy")) is K.PROTOCOL


@pytest.mark.parametrize("code", [None, 1000, 1001, 1006, 1011, 1012, 1013, 4000])
def test_other_closes_are_dropped_connections(code: int | None) -> None:
    assert classify(ConnectionClosed(code)) is K.DISCONNECTED


# --------------------------------------------------------------------------- every error class


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConfigurationError("bad rate"), K.INVALID_REQUEST),
        (AudioError("odd-length PCM"), K.BAD_AUDIO),
        (LocalProtocolError("cannot send audio: task is idle"), K.INVALID_REQUEST),
        (RemoteProtocolError("unknown event"), K.PROTOCOL),
        (ProtocolError("either side"), K.PROTOCOL),
        (ConnectError("connection refused"), K.UNREACHABLE),
        (TransportTimeout("task-started", 5), K.TIMEOUT),
        (AudioDropped(1200), K.AUDIO_LOST),
        (TransportError("a bare transport error"), K.UNKNOWN),
        (FunAsrError("other"), K.UNKNOWN),
        (TimeoutError(), K.TIMEOUT),
        (ConnectionRefusedError(), K.UNREACHABLE),
        (ConnectionResetError(), K.DISCONNECTED),
        (BrokenPipeError(), K.DISCONNECTED),
        (ValueError("x"), K.UNKNOWN),
        (RuntimeError("x"), K.UNKNOWN),
        (KeyboardInterrupt(), K.UNKNOWN),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.name,
)
def test_every_error_class_has_a_kind(error: BaseException, kind: ErrorKind) -> None:
    assert classify(error) is kind


def test_subclasses_keep_their_parents_kind() -> None:
    class Refused(HandshakeRejected):
        pass

    class Misuse(LocalProtocolError, ValueError):
        pass

    assert classify(Refused(401)) is K.AUTHENTICATION
    assert classify(Misuse("the SDK's InvalidParameter")) is K.INVALID_REQUEST


# --------------------------------------------------------------------------- kinds and retries

RETRYABLE = {K.RATE_LIMIT, K.SERVER, K.UNAVAILABLE, K.REQUEST_TIMEOUT, K.TIMEOUT, K.UNREACHABLE, K.DISCONNECTED}


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.name)
def test_each_kind_is_retryable_or_permanent_as_documented(kind: ErrorKind) -> None:
    assert kind.retryable is (kind in RETRYABLE)
    assert kind.name.lower() == kind.value


@pytest.mark.parametrize(
    "error",
    [
        *(TaskFailedError(code, "x") for code in TASK_CODES),
        *(HandshakeRejected(status) for status in (400, 401, 403, 404, 408, 429, 500, 503)),
        ConnectionClosed(1006),
        ConnectionClosed(1008),
        ConnectError("refused"),
        TransportTimeout("connect", 1),
        AudioDropped(5),
        ValueError("x"),
    ],
    ids=repr,
)
def test_is_retryable_is_the_kinds_answer(error: BaseException) -> None:
    assert is_retryable(error) is classify(error).retryable


def test_the_classification_is_public_api() -> None:
    assert fr.classify is classify
    assert fr.ErrorKind is ErrorKind
    assert {"classify", "ErrorKind"} <= set(fr.__all__)


# --------------------------------------------------------------------------- the documented table

STATUS = {
    K.AUTHENTICATION: 401,
    K.PERMISSION: 403,
    K.QUOTA: 403,
    K.BILLING: 400,  # DashScope answers Arrearage with a 400
    K.NOT_FOUND: 404,
    K.INVALID_REQUEST: 400,
    K.CONTENT_POLICY: 400,
    K.BAD_AUDIO: 400,
    K.NO_SPEECH: 400,
    K.PROTOCOL: 502,
    K.AUDIO_LOST: 500,
    K.UNKNOWN: 500,
    K.RATE_LIMIT: 429,
    K.SERVER: 500,
    K.UNAVAILABLE: 503,
    K.REQUEST_TIMEOUT: 408,
    K.TIMEOUT: 504,
    K.UNREACHABLE: 503,
    K.DISCONNECTED: 502,
}


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda k: k.name)
def test_each_kind_has_one_http_status(kind: ErrorKind) -> None:
    assert kind.http_status == STATUS[kind]


def _documented_rows() -> dict[str, tuple[bool, int, str]]:
    """The module docstring's table: kind -> (retryable, status, the 'comes from' text)."""
    module = importlib.import_module("funasr_realtime.protocol.classify")  # the package exports the function
    rows: dict[str, tuple[bool, int, str]] = {}
    current = ""
    for line in (module.__doc__ or "").splitlines():
        match = re.fullmatch(r"([A-Z_]+)\s+(yes|no)\s+(\d{3})\s+(.*)", line)
        if match:
            current = match[1]
            rows[current] = (match[2] == "yes", int(match[3]), match[4])
        elif current and line.startswith(" " * 38) and line.strip():
            retryable, status, text = rows[current]
            rows[current] = (retryable, status, f"{text} {line.strip()}")
        elif line.startswith("====="):
            current = ""
    return rows


def test_the_documented_table_is_the_classification() -> None:
    rows = _documented_rows()
    assert set(rows) == {kind.name for kind in ErrorKind}
    for kind in ErrorKind:
        retryable, status, _ = rows[kind.name]
        assert (retryable, status) == (kind.retryable, kind.http_status), kind
    for code, kind in TASK_CODES.items():
        if code not in ("", "SomethingNew", "Foo.AccessDenied") and not code.startswith("Throttling."):
            assert f"``{code}``" in rows[kind.name][2], f"{code} is not documented under {kind.name}"
