"""The retry policy (docs/PROTOCOL.md §7): which failures heal, and the backoff schedule."""

from __future__ import annotations

import itertools
import random

import pytest

from funasr_realtime.protocol import (
    PERMANENT_ERROR_CODES,
    AudioDropped,
    AudioError,
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    LocalProtocolError,
    RemoteProtocolError,
    TaskFailedError,
    TransportTimeout,
    backoff,
    is_retryable,
)

# --------------------------------------------------------------------------- task-failed codes


@pytest.mark.parametrize(
    "code",
    [
        "InvalidApiKey",
        "Arrearage",
        "AccessDenied",
        "Model.AccessDenied",
        "Workspace.AccessDenied",
        "AllocationQuota.FreeTierOnly",
        "ModelNotFound",
        "NotFound",
        "InvalidParameter",
        "NO_VALID_AUDIO_ERROR",
    ],
)
def test_permanent_codes_are_not_retried(code: str) -> None:
    assert code in PERMANENT_ERROR_CODES
    assert is_retryable(TaskFailedError(code, "whatever", "t")) is False


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("Throttling", "Requests throttling triggered."),
        ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
        ("Throttling.BurstRate", "burst"),
        ("InternalError", "An internal error has occured, please try again later"),
        ("ModelUnavailable", "Model is unavailable, please try again later."),
        ("ModelServingError", "overloaded"),
        ("CLIENT_ERROR", "request timeout after 23 seconds."),
        ("ClientDisconnect", "Client disconnected before task finished!"),
        ("SomethingNew", "never seen before"),
        ("Unknown", ""),
    ],
)
def test_transient_and_unknown_codes_are_retried(code: str, message: str) -> None:
    assert code not in PERMANENT_ERROR_CODES
    assert is_retryable(TaskFailedError(code, message)) is True


@pytest.mark.parametrize(
    "message", ["Invalid payload data", "invalid payload data: header.task_id", "Invalid parameter: sample_rate"]
)
def test_parameter_error_messages_are_permanent_even_with_a_generic_code(message: str) -> None:
    assert is_retryable(TaskFailedError("Unknown", message)) is False
    assert is_retryable(TaskFailedError("CLIENT_ERROR", message)) is False


# --------------------------------------------------------------------------- handshake and transport


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_handshake_client_errors_are_permanent(status: int) -> None:
    assert is_retryable(HandshakeRejected(status)) is False


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_handshake_overload_and_server_errors_are_retried(status: int) -> None:
    assert is_retryable(HandshakeRejected(status)) is True


@pytest.mark.parametrize("code", [None, 1000, 1001, 1006, 1011, 1012, 1013])
def test_dropped_connections_are_retried(code: int | None) -> None:
    assert is_retryable(ConnectionClosed(code)) is True


@pytest.mark.parametrize("code", [1002, 1003, 1007, 1008, 1010])
def test_policy_and_protocol_close_codes_are_permanent(code: int) -> None:
    assert is_retryable(ConnectionClosed(code, "policy violation")) is False


def test_connect_error_is_retried() -> None:
    assert is_retryable(ConnectError("connection refused")) is True


def test_transport_timeout_is_retried() -> None:
    assert is_retryable(TransportTimeout("task-started", 5)) is True


@pytest.mark.parametrize(
    "error",
    [
        ConfigurationError("bad rate"),
        LocalProtocolError("cannot send audio: task is idle"),
        RemoteProtocolError("unknown event"),
        AudioError("odd-length PCM"),
        AudioDropped(1200),
        ValueError("x"),
        RuntimeError("x"),
        KeyboardInterrupt(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_are_not_retried(error: BaseException) -> None:
    assert is_retryable(error) is False


@pytest.mark.parametrize(
    "error", [ConnectionResetError(), ConnectionRefusedError(), BrokenPipeError(), TimeoutError()], ids=repr
)
def test_raw_os_transport_errors_are_retried(error: BaseException) -> None:
    assert is_retryable(error) is True


# --------------------------------------------------------------------------- backoff


def take(n: int, **kwargs: object) -> list[float]:
    return list(itertools.islice(backoff(**kwargs), n))  # type: ignore[arg-type]


def test_backoff_without_jitter_is_exponential_and_capped() -> None:
    delays = take(10, initial=0.1, maximum=5.0, factor=2.0, jitter=0.0)
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0])


def test_backoff_defaults_grow_then_cap() -> None:
    delays = take(30, jitter=0.0)
    assert delays[0] == pytest.approx(0.1)
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[-1] == pytest.approx(5.0)
    assert max(delays) <= 5.0


def test_backoff_jitter_stays_within_bounds() -> None:
    rng = random.Random(1234)
    nominal = [min(5.0, 0.1 * 2.0**n) for n in range(40)]
    delays = take(40, initial=0.1, maximum=5.0, factor=2.0, jitter=0.5, rng=rng)
    for delay, expected in zip(delays, nominal, strict=True):
        assert expected * 0.5 <= delay <= expected
    # Jitter actually varies the delays.
    assert len({round(d, 9) for d in delays[10:]}) > 1


def test_backoff_grows_with_jitter() -> None:
    # With jitter 0.5 and factor 2 the lower bound of delay n+2 exceeds the upper bound of delay n.
    delays = take(6, initial=0.1, maximum=100.0, factor=2.0, jitter=0.5, rng=random.Random(7))
    assert all(delays[i + 2] > delays[i] for i in range(len(delays) - 2))
    assert delays[-1] > delays[0]


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    a = take(15, rng=random.Random(42))
    b = take(15, rng=random.Random(42))
    c = take(15, rng=random.Random(43))
    assert a == b
    assert a != c


def test_backoff_never_exceeds_maximum() -> None:
    delays = take(50, initial=0.5, maximum=2.0, factor=3.0, jitter=0.3, rng=random.Random(0))
    assert max(delays) <= 2.0
    assert min(delays) > 0


def test_backoff_first_delay_is_capped_too() -> None:
    # The docstring: each delay is min(maximum, initial * factor**n), so n = 0 is capped as well.
    delays = take(3, initial=10.0, maximum=5.0, jitter=0.0)
    assert delays == pytest.approx([5.0, 5.0, 5.0])


def test_backoff_is_endless() -> None:
    assert len(take(1000, rng=random.Random(0))) == 1000
