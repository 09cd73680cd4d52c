"""Where to connect and how: endpoint, credentials, headers, timeouts.

:func:`ClientConfig.resolve` is the only place that reads the environment
(``DASHSCOPE_API_KEY``, ``DASHSCOPE_WEBSOCKET_BASE_URL``, the official SDK's names).
The API key is held as a :class:`pydantic.SecretStr`, so it never shows in a repr.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import SecretStr

from .._hosts import is_loopback
from .._redact import register_secret
from .._version import __version__
from ..protocol import (
    ENDPOINTS,
    ConfigurationError,
    Region,
    ResumePoint,
    RetryPolicy,
    StreamCore,
    region_of_url,
    workspace_url,
)

if TYPE_CHECKING:
    from .transport import TransportFactory

__all__ = ["ClientConfig", "Resilience", "Timeouts"]

logger = logging.getLogger(__name__)

ENV_API_KEY = "DASHSCOPE_API_KEY"
ENV_URL = "DASHSCOPE_WEBSOCKET_BASE_URL"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Every wait of the client is bounded (seconds).

    * ``connect``: TCP + TLS + WebSocket handshake;
    * ``task_started``: run-task until task-started;
    * ``stop``: after finish-task, how long the server may stay silent before the task is
      declared stuck. The wait for the trailing results is extended by every message that
      arrives, up to ``stop`` plus the duration of the audio not yet covered by a final, so
      a server that is still working through a long file is never cut off;
    * ``send``: one audio frame accepted by the socket (a stalled socket cannot block forever);
    * ``ping_interval`` / ``ping_timeout``: liveness. When nothing was received for
      ``ping_interval``, a ping is sent; the connection is declared dead when nothing at all
      (no pong, no message) arrives within ``ping_timeout`` of it while the outgoing backlog
      ahead of the ping is not draining. A busy server that reads its socket but answers late
      is therefore never declared dead, and a send backlog does not hide a dead peer;
    * ``close``: how long a closing handshake may take before the socket is dropped (a dead
      peer never answers it). A half-open or black-holed connection is therefore detected
      within ``ping_interval + ping_timeout + close`` (11 s by default);
    * ``results``: a task that has been sent audio for this long without a single message
      back (no result, no heartbeat) is declared stalled and retried.
    """

    connect: float = 10.0
    task_started: float = 10.0
    stop: float = 10.0
    send: float = 10.0
    ping_interval: float | None = 5.0
    ping_timeout: float | None = 5.0
    close: float = 1.0
    results: float = 20.0


@dataclass(frozen=True, slots=True)
class Resilience:
    """How a stream survives failures, mutes, rotations and fast producers.

    * ``max_retries``: failed attempts in a row (connects that fail, tasks that die) before
      the stream gives up and raises. Only an attempt that made progress (delivered a final
      sentence or completed its task) resets the count. Permanent errors are never retried.
    * ``max_outage``: the stream also gives up once one outage (the time since the last
      attempt that made progress) has lasted this long (seconds), however the retries went.
      A stream that cannot make progress therefore ends within ``max_outage`` plus one
      attempt's own bound (about 45 s by default) with the last error.
    * ``backoff_initial`` / ``backoff_max``: exponential backoff with jitter between attempts.
    * ``replay_seconds``: audio not yet covered by a final sentence that is kept for replay
      after a reconnect (16 kHz: 32 kB per second; the default 20 s is 640 kB at most). On a
      healthy connection the stream paces a fast producer rather than evict it; only an
      outage longer than this loses the oldest audio, and the stream says how much.
    * ``max_lead``: pacing. A producer faster than real time (a file) may run at most this
      many seconds of audio ahead of the recognition position the server has reported;
      beyond it ``send_audio`` waits for results, but never holds a producer below real-time
      pace. Sending a file as fast as you can is the fastest safe way.
    * ``idle_finish``: a task that receives no audio for this long is finished (its results
      are flushed), so a muted user never meets the service's 23 s timeout; the next audio
      opens a new task. Silence that is *sent* is billed; a mute that sends nothing is not.
    * ``standby``: keep one spare connection open, so the first audio and every rotation
      start a task without a handshake (costs one idle socket).
    """

    max_retries: int = 5
    max_outage: float = 30.0
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    replay_seconds: float = 20.0
    max_lead: float = 10.0
    idle_finish: float = 10.0
    standby: bool = True

    def stream_core(self, sample_rate: int, *, stop: float, now: float, resume_from: ResumePoint | None) -> StreamCore:
        """The sans-I/O core of a stream with these settings (``stop``: ``Timeouts.stop``)."""
        retry = RetryPolicy(self.max_retries, self.max_outage, self.backoff_initial, self.backoff_max)
        return StreamCore(
            sample_rate,
            replay_seconds=self.replay_seconds,
            max_lead=self.max_lead,
            idle_finish=self.idle_finish,
            stop=stop,
            retry=retry,
            now=now,
            resume_from=resume_from,
        )


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A resolved connection target. Build it with :meth:`resolve`.

    ``transport`` opens the connections (see :mod:`.transport`); None is a WebSocket to
    ``url``.
    """

    url: str
    api_key: SecretStr | None = None
    region: Region | None = None
    workspace: str | None = None
    data_inspection: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    transport: TransportFactory | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # From now on this key is scrubbed from every log record and error text, including
        # where a server echoes it back (a handshake body, a close reason, a task-failed).
        register_secret(self.api_key)

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | SecretStr | None = None,
        url: str | None = None,
        region: Region | str | None = None,
        workspace: str | None = None,
        data_inspection: bool = False,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        allow_insecure: bool = False,
        transport: TransportFactory | None = None,
    ) -> ClientConfig:
        """Resolve the endpoint and key from arguments, then the environment, then defaults.

        URL precedence: ``url``; ``$DASHSCOPE_WEBSOCKET_BASE_URL``; the workspace-scoped host
        of ``workspace``; the public endpoint of ``region``; the international (Singapore)
        endpoint. Key precedence: ``api_key``; ``$DASHSCOPE_API_KEY``. An Alibaba Cloud URL
        without a key is a :class:`ConfigurationError`; a local server may need none.

        Plain ``ws://`` is accepted for loopback hosts, or anywhere with ``allow_insecure=True``
        (logged as a warning): audio and the key would cross the network unencrypted.

        A custom ``transport`` decides what it needs, so no key is required with one (the
        in-memory :class:`~funasr_realtime.testing.MockTransport` needs none).
        """
        wanted_region = Region(region) if region is not None else None
        resolved_url = url or os.environ.get(ENV_URL) or _default_url(wanted_region, workspace)
        _check_url(resolved_url, allow_insecure)
        actual_region = region_of_url(resolved_url)
        if wanted_region is not None and actual_region is not None and wanted_region != actual_region:
            raise ConfigurationError(
                f"region {wanted_region.value!r} does not match the URL's region {actual_region.value!r}"
            )
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        secret = key if isinstance(key, SecretStr) else (SecretStr(key) if key else None)
        if secret is None and actual_region is not None and transport is None:
            raise ConfigurationError(f"no API key: pass api_key= or set ${ENV_API_KEY}")
        return cls(
            url=resolved_url,
            api_key=secret,
            region=actual_region or wanted_region,
            workspace=workspace,
            data_inspection=data_inspection,
            headers=dict(headers or {}),
            timeouts=timeouts or Timeouts(),
            transport=transport,
        )

    def handshake_headers(self) -> dict[str, str]:
        """Headers of the WebSocket upgrade request. Contains the key: never log this."""
        headers = {"x-dashscope-sdk-client": f"funasr-realtime/{__version__}", **self.headers}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        if self.workspace:
            headers["X-DashScope-WorkSpace"] = self.workspace
        if self.data_inspection:
            headers["X-DashScope-DataInspection"] = "enable"
        return headers


def _default_url(region: Region | None, workspace: str | None) -> str:
    if workspace:
        return workspace_url(workspace, region or Region.INTL)
    return ENDPOINTS[region or Region.INTL]


def _check_url(url: str, allow_insecure: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigurationError(f"not a WebSocket URL: {url!r} (expected wss://host/path)")
    if parts.username or parts.password:
        raise ConfigurationError("credentials in the URL are not supported; pass api_key=")
    if parts.scheme == "ws" and not is_loopback(parts.hostname):
        if not allow_insecure:
            raise ConfigurationError(
                f"refusing unencrypted ws:// to {parts.hostname}; use wss:// or allow_insecure=True"
            )
        logger.warning("connecting to %s without TLS: audio and API key travel unencrypted", parts.hostname)
