"""The plugin's error table: every core error kind has one LiveKit error (no network)."""

from __future__ import annotations

import pytest
from livekit.agents import APIConnectionError, APIStatusError, APITimeoutError
from livekit.plugins.funasr_realtime import AudioLost
from livekit.plugins.funasr_realtime._errors import CONNECTION_ERRORS, to_api_error

import funasr_realtime as fr


def test_the_connection_errors_are_the_retryable_network_kinds_and_audio_loss() -> None:
    assert set(CONNECTION_ERRORS) == {
        fr.ErrorKind.AUDIO_LOST,
        fr.ErrorKind.TIMEOUT,
        fr.ErrorKind.UNREACHABLE,
        fr.ErrorKind.DISCONNECTED,
    }


@pytest.mark.parametrize("kind", list(fr.ErrorKind), ids=lambda k: k.name)
def test_a_status_that_livekit_never_retries_is_only_given_to_a_permanent_kind(kind: fr.ErrorKind) -> None:
    status = kind.http_status
    if kind not in CONNECTION_ERRORS and 400 <= status < 500 and status not in (408, 429, 499):
        assert not kind.retryable


@pytest.mark.parametrize(
    ("error", "kind", "status", "retryable"),
    [
        (fr.HandshakeRejected(401), APIStatusError, 401, False),
        (fr.HandshakeRejected(403), APIStatusError, 403, False),
        (fr.HandshakeRejected(429), APIStatusError, 429, True),
        (fr.HandshakeRejected(503), APIStatusError, 503, True),
        (fr.TaskFailedError("InvalidApiKey", "Invalid API-key provided.", "t1"), APIStatusError, 401, False),
        (fr.TaskFailedError("Arrearage", "Access denied, account in arrears", "t1"), APIStatusError, 400, False),
        (fr.TaskFailedError("DataInspectionFailed", "moderated", "t1"), APIStatusError, 400, False),
        (fr.TaskFailedError("NO_INPUT_AUDIO_ERROR", "no speech", "t1"), APIStatusError, 400, False),
        (fr.TaskFailedError("Model.NotExist", "no such model", "t1"), APIStatusError, 404, False),
        (fr.TaskFailedError("ServiceUnavailable", "later", "t1"), APIStatusError, 503, True),
        (fr.TaskFailedError("ModelNotFound", "Model not found", "t1"), APIStatusError, 404, False),
        (fr.TaskFailedError("InvalidParameter", "bad sample_rate", "t1"), APIStatusError, 400, False),
        (fr.TaskFailedError("Throttling.RateQuota", "rate limit", "t1"), APIStatusError, 429, True),
        (fr.TaskFailedError("InternalError", "oops", "t1"), APIStatusError, 500, True),
        (fr.ConnectionClosed(1006), APIConnectionError, None, True),
        (fr.ConnectionClosed(1008, "policy"), APIStatusError, 502, False),
        (fr.ConnectError("refused"), APIConnectionError, None, True),
        (fr.TransportTimeout("task-started", 2.0), APITimeoutError, None, True),
        (fr.RemoteProtocolError("bad json"), APIStatusError, 502, False),
        (fr.TaskFailedError("AllocationQuota.FreeTierOnly", "free tier", "t1"), APIStatusError, 403, False),
        (fr.TaskFailedError("Workspace.AccessDenied", "no", "t1"), APIStatusError, 403, False),
        (fr.TaskFailedError("NO_VALID_AUDIO_ERROR", "bad audio", "t1"), APIStatusError, 400, False),
        (fr.TaskFailedError("CLIENT_ERROR", "request timeout after 23 seconds.", "t1"), APIStatusError, 408, True),
        (fr.TaskFailedError("ModelUnavailable", "later", "t1"), APIStatusError, 503, True),
        (fr.TaskFailedError("Unknown", "Invalid payload data", "t1"), APIStatusError, 400, False),
        (fr.TaskFailedError("ClientDisconnect", "gone", "t1"), APIConnectionError, None, True),
        (fr.HandshakeRejected(404), APIStatusError, 404, False),
        (fr.HandshakeRejected(408), APIStatusError, 408, True),
        (fr.HandshakeRejected(502), APIStatusError, 502, True),
        (fr.ConfigurationError("bad rate"), APIStatusError, 400, False),
        (fr.AudioError("odd-length PCM"), APIStatusError, 400, False),
        (fr.LocalProtocolError("task is idle"), APIStatusError, 400, False),
        (fr.ConnectionClosed(None), APIConnectionError, None, True),
        (fr.AudioDropped(1200), APIConnectionError, None, False),
        (fr.FunAsrError("other"), APIStatusError, 500, False),
    ],
    ids=repr,
)
def test_core_errors_map_to_livekit_errors(
    error: fr.FunAsrError, kind: type[Exception], status: int | None, retryable: bool
) -> None:
    mapped = to_api_error(error, request_id="last-task")
    assert type(mapped) is kind
    assert mapped.retryable is retryable and mapped.retryable is fr.is_retryable(error)
    assert mapped.__cause__ is error
    if isinstance(mapped, APIStatusError):
        assert mapped.status_code == status
        expected_id = error.task_id if isinstance(error, fr.TaskFailedError) else "last-task"
        assert mapped.request_id == expected_id
    assert str(error) in str(mapped)


def test_a_timeout_is_livekits_timeout_error() -> None:
    assert type(to_api_error(fr.TransportTimeout("stop", 3.0))) is APITimeoutError
    assert CONNECTION_ERRORS[fr.ErrorKind.TIMEOUT] is APITimeoutError


def test_audio_lost_is_a_recoverable_connection_error() -> None:
    gone = fr.ConnectionClosed(1006, "gone")
    event = fr.Reconnected(gone, attempt=1, replayed_ms=0, dropped_ms=2500, downtime_ms=800)
    lost = AudioLost(event)
    assert isinstance(lost, APIConnectionError) and lost.retryable
    assert (lost.dropped_ms, lost.event) == (2500, event)
