"""The one classification of errors (docs/PROTOCOL.md §7): every error class, code and status."""

from __future__ import annotations

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
    "Model.AccessDenied": K.PERMISSION,
    "Workspace.AccessDenied": K.PERMISSION,
    "AllocationQuota.FreeTierOnly": K.QUOTA,
    "Arrearage": K.BILLING,
    "ModelNotFound": K.NOT_FOUND,
    "NotFound": K.NOT_FOUND,
    "InvalidParameter": K.INVALID_REQUEST,
    "InvalidParameters": K.INVALID_REQUEST,
    "NO_VALID_AUDIO_ERROR": K.BAD_AUDIO,
    "UnsupportedFormat": K.BAD_AUDIO,
    "InternalError": K.SERVER,
    "ModelUnavailable": K.UNAVAILABLE,
    "ModelServingError": K.UNAVAILABLE,
    "CLIENT_ERROR": K.REQUEST_TIMEOUT,
    "RequestTimeOut": K.REQUEST_TIMEOUT,
    "ClientDisconnect": K.DISCONNECTED,
    "Throttling": K.RATE_LIMIT,
    "Throttling.RateQuota": K.RATE_LIMIT,
    "Throttling.BurstRate": K.RATE_LIMIT,
    "Throttling.AllocationQuota": K.RATE_LIMIT,
    # Codes this library does not know are transient server faults.
    "SomethingNew": K.SERVER,
    "NO_INPUT_AUDIO_ERROR": K.SERVER,
    "Foo.AccessDenied": K.SERVER,
    "": K.SERVER,
}


@pytest.mark.parametrize(("code", "kind"), TASK_CODES.items())
def test_task_failures_are_classified_by_code(code: str, kind: ErrorKind) -> None:
    assert classify(TaskFailedError(code, "what the server said", "t1")) is kind


PERMANENT = [
    "InvalidApiKey",
    "AccessDenied",
    "Model.AccessDenied",
    "Workspace.AccessDenied",
    "AllocationQuota.FreeTierOnly",
    "Arrearage",
    "ModelNotFound",
    "NotFound",
    "InvalidParameter",
    "InvalidParameters",
    "NO_VALID_AUDIO_ERROR",
    "UnsupportedFormat",
]


def test_the_permanent_codes_are_exactly_those_of_a_permanent_kind() -> None:
    assert set(PERMANENT) == PERMANENT_ERROR_CODES
    permanent = {code for code, kind in TASK_CODES.items() if not kind.retryable}
    assert permanent == PERMANENT_ERROR_CODES


@pytest.mark.parametrize("code", PERMANENT)
def test_every_permanent_code_has_a_permanent_kind(code: str) -> None:
    kind = classify(TaskFailedError(code, "x"))
    assert not kind.retryable
    assert kind in (K.AUTHENTICATION, K.PERMISSION, K.QUOTA, K.BILLING, K.NOT_FOUND, K.INVALID_REQUEST, K.BAD_AUDIO)


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
