"""How errors become SDK-style results: status codes, string codes, messages."""

from __future__ import annotations

import pytest

from funasr_realtime import (
    ConnectError,
    ConnectionClosed,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    RemoteProtocolError,
    TaskFailedError,
    TransportTimeout,
)
from funasr_realtime.compat.errors import InvalidParameter, describe


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InvalidApiKey", 401),
        ("Model.AccessDenied", 403),
        ("Arrearage", 400),
        ("NO_VALID_AUDIO_ERROR", 400),
        ("ModelNotFound", 404),
        ("CLIENT_ERROR", 408),
        ("Throttling.RateQuota", 429),
        ("ModelServingError", 503),
        ("SomethingNew", 500),
    ],
)
def test_task_failures_keep_the_servers_code_and_message(code: str, status: int) -> None:
    assert describe(TaskFailedError(code, "what the server said", "t1")) == (status, code, "what the server said")


@pytest.mark.parametrize(
    ("error", "status", "code", "fragment"),
    [
        (HandshakeRejected(401), 401, "InvalidApiKey", "HTTP 401"),
        (HandshakeRejected(403), 403, "AccessDenied", "HTTP 403"),
        (HandshakeRejected(502), 502, "BadGateway", "HTTP 502"),
        (HandshakeRejected(599), 599, "HTTP599", "HTTP 599"),
        (ConnectError("cannot connect: refused"), 503, "ConnectError", "refused"),
        (TransportTimeout("task-finished", 0.3), 504, "Timeout", "task-finished"),
        (ConnectionClosed(1011, "engine crashed"), 502, "ConnectionClosed", "code 1011: engine crashed"),
        (RemoteProtocolError("unknown event"), 502, "ProtocolError", "unknown event"),
        (FunAsrError("other"), 500, "FunAsrError", "other"),
    ],
)
def test_transport_failures(error: FunAsrError, status: int, code: str, fragment: str) -> None:
    got_status, got_code, message = describe(error)
    assert (got_status, got_code) == (status, code)
    assert fragment in message
    assert type(got_status) is int


def test_invalid_parameter_is_in_our_tree_and_a_value_error() -> None:
    assert issubclass(InvalidParameter, LocalProtocolError)
    assert issubclass(InvalidParameter, FunAsrError)
    assert issubclass(InvalidParameter, ValueError)
