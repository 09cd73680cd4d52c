"""compat's status codes come from the core's error kinds, through one table."""

from __future__ import annotations

import pytest

from funasr_realtime import (
    AudioDropped,
    AudioError,
    ConfigurationError,
    ConnectionClosed,
    ErrorKind,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    TaskFailedError,
    classify,
)
from funasr_realtime.compat.errors import KIND_STATUS, InvalidParameter, describe


def test_every_kind_has_a_status() -> None:
    assert set(KIND_STATUS) == set(ErrorKind)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InvalidApiKey", 401),
        ("AccessDenied", 403),
        ("Workspace.AccessDenied", 403),
        ("AllocationQuota.FreeTierOnly", 403),
        ("Arrearage", 400),
        ("InvalidParameters", 400),
        ("UnsupportedFormat", 400),
        ("NotFound", 404),
        ("RequestTimeOut", 408),
        ("Throttling", 429),
        ("InternalError", 500),
        ("ModelUnavailable", 503),
        ("ClientDisconnect", 502),
    ],
)
def test_task_failure_status_is_its_kinds(code: str, status: int) -> None:
    error = TaskFailedError(code, "what the server said", "t1")
    assert describe(error) == (status, code, "what the server said")
    assert KIND_STATUS[classify(error)] == status


def test_a_parameter_message_is_a_400_whatever_the_code() -> None:
    assert describe(TaskFailedError("CLIENT_ERROR", "Invalid parameter: sample_rate"))[0] == 400


@pytest.mark.parametrize("status", [400, 402, 408, 418, 500, 502, 504])
def test_a_rejected_handshake_keeps_the_servers_status(status: int) -> None:
    assert describe(HandshakeRejected(status))[0] == status


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ConfigurationError("no API key"), 400, "ConfigurationError"),
        (AudioError("odd-length PCM"), 400, "AudioError"),
        (LocalProtocolError("cannot send: the task is finishing"), 400, "LocalProtocolError"),
        (InvalidParameter("Speech recognition has stopped."), 400, "InvalidParameter"),
        (ConnectionClosed(1008, "policy"), 502, "ConnectionClosed"),
        (AudioDropped(1200), 500, "AudioDropped"),
        (FunAsrError("other"), 500, "FunAsrError"),
    ],
)
def test_other_errors_get_their_kinds_status_and_class_name(error: FunAsrError, status: int, code: str) -> None:
    got_status, got_code, message = describe(error)
    assert (got_status, got_code, message) == (status, code, str(error))
    assert type(got_status) is int
