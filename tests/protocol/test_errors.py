"""The error tree described in protocol/errors.py."""

from __future__ import annotations

import pytest

import funasr_realtime.protocol as protocol
from funasr_realtime.protocol import (
    ApiError,
    AudioDropped,
    AudioError,
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    TaskFailedError,
    TransportError,
    TransportTimeout,
)
from funasr_realtime.protocol import errors as errors_module

# child -> its direct parents, as drawn in the errors.py docstring
TREE: dict[type[BaseException], tuple[type[BaseException], ...]] = {
    ConfigurationError: (FunAsrError, ValueError),
    AudioError: (FunAsrError, ValueError),
    ProtocolError: (FunAsrError,),
    LocalProtocolError: (ProtocolError,),
    RemoteProtocolError: (ProtocolError,),
    TransportError: (FunAsrError,),
    ConnectError: (TransportError,),
    HandshakeRejected: (ConnectError,),
    TransportTimeout: (TransportError, TimeoutError),
    ConnectionClosed: (TransportError,),
    TaskFailedError: (FunAsrError,),
    ApiError: (FunAsrError,),
    AudioDropped: (FunAsrError,),
}


@pytest.mark.parametrize(("child", "parents"), list(TREE.items()), ids=lambda x: getattr(x, "__name__", ""))
def test_tree(child: type[BaseException], parents: tuple[type[BaseException], ...]) -> None:
    for parent in parents:
        assert issubclass(child, parent)
    assert issubclass(child, FunAsrError)


def test_every_exported_error_is_in_the_tree() -> None:
    exported = {getattr(errors_module, name) for name in errors_module.__all__}
    assert exported == set(TREE) | {FunAsrError}
    assert all(name in protocol.__all__ for name in errors_module.__all__)


def test_funasr_error_is_a_plain_exception() -> None:
    assert issubclass(FunAsrError, Exception)
    assert not issubclass(FunAsrError, (ValueError, OSError, TimeoutError))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (LocalProtocolError, RemoteProtocolError),
        (ProtocolError, TransportError),
        (TaskFailedError, TransportError),
        (TaskFailedError, ProtocolError),
        (ConnectionClosed, ConnectError),
        (TransportTimeout, ConnectError),
        (AudioDropped, TransportError),
        (ConfigurationError, AudioError),
    ],
)
def test_branches_are_disjoint(a: type[BaseException], b: type[BaseException]) -> None:
    assert not issubclass(a, b)
    assert not issubclass(b, a)


def test_transport_timeout_is_a_timeout_error() -> None:
    error = TransportTimeout("task-started", 5.0)
    assert isinstance(error, TimeoutError)
    assert error.operation == "task-started"
    assert error.seconds == 5.0
    assert str(error) == "timed out after 5 s waiting for task-started"
    with pytest.raises(TimeoutError):
        raise error


def test_transport_timeout_formats_fractions() -> None:
    assert "0.25 s" in str(TransportTimeout("connect", 0.25))


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad"):
        raise ConfigurationError("bad")


def test_audio_error_is_a_value_error() -> None:
    assert isinstance(AudioError("odd-length PCM"), ValueError)


def test_audio_dropped_carries_dropped_ms() -> None:
    error = AudioDropped(1500)
    assert error.dropped_ms == 1500
    assert "1500 ms" in str(error)


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        (401, "API key is invalid"),
        (403, "forbidden"),
        (404, "not found"),
        (429, "too many requests"),
        (503, "unavailable"),
    ],
)
def test_handshake_rejected_messages(status: int, fragment: str) -> None:
    error = HandshakeRejected(status, "raw reason")
    assert error.status_code == status
    assert error.reason == "raw reason"
    assert str(error).startswith(f"HTTP {status}: ")
    assert fragment in str(error)


def test_handshake_rejected_unknown_status_uses_the_reason() -> None:
    assert str(HandshakeRejected(418, "I'm a teapot")) == "HTTP 418: I'm a teapot"
    assert str(HandshakeRejected(418)) == "HTTP 418: handshake rejected"


def test_connection_closed_message() -> None:
    error = ConnectionClosed(1011, "internal error")
    assert (error.code, error.reason) == (1011, "internal error")
    assert str(error) == "connection closed (code 1011: internal error)"
    assert str(ConnectionClosed(1006)) == "connection closed (code 1006)"
    assert str(ConnectionClosed(None)) == "connection closed (no close frame)"
    assert ConnectionClosed(None).code is None


def test_task_failed_error_message_contains_code_message_and_task() -> None:
    error = TaskFailedError("InvalidApiKey", "Invalid API-key provided.", "abc123")
    assert (error.error_code, error.error_message, error.task_id) == (
        "InvalidApiKey",
        "Invalid API-key provided.",
        "abc123",
    )
    assert str(error) == "InvalidApiKey: Invalid API-key provided. (task abc123)"
    assert "(task ?)" in str(TaskFailedError("X", "y"))


def test_protocol_errors_from_state_machines_name_the_state() -> None:
    client = protocol.ClientProtocol()
    with pytest.raises(LocalProtocolError) as info:
        client.finish_task()
    assert "task is idle" in str(info.value)
    with pytest.raises(RemoteProtocolError) as remote:
        protocol.ServerProtocol().receive_bytes(b"\x00\x00")
    assert "task is idle" in str(remote.value)


def test_errors_are_catchable_by_the_base_class() -> None:
    for error in (
        ConfigurationError("x"),
        LocalProtocolError("x"),
        HandshakeRejected(401),
        TransportTimeout("connect", 1),
        ConnectionClosed(1006),
        TaskFailedError("a", "b"),
        AudioDropped(1),
    ):
        with pytest.raises(FunAsrError):
            raise error
