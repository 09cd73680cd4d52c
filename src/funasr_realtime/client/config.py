"""Where to connect and how: endpoint, credentials, headers, timeouts.

:func:`ClientConfig.resolve` is the only place that reads the environment, under the
official SDK's names (2.0.2): ``DASHSCOPE_API_KEY``, the key file
(``DASHSCOPE_API_KEY_FILE_PATH``, else ``~/.dashscope/api_key``),
``DASHSCOPE_WEBSOCKET_BASE_URL``, ``DASHSCOPE_HTTP_BASE_URL``, ``DASHSCOPE_WORKSPACE`` /
``DASHSCOPE_WORKSPACE_ID`` and ``DASHSCOPE_REGION`` / ``DASHSCOPE_API_REGION``; and ours,
``FUNASR_REALTIME_TRANSPORT`` (the transport by name, ``client/_choose.py``).
The API key is held as a :class:`pydantic.SecretStr`, so it never shows in a repr; a key
that expires is given as a :data:`KeyProvider`, asked on every connect.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from .._hosts import is_loopback
from .._redact import redact, register_secret
from .._version import __version__
from ..protocol import (
    ENDPOINTS,
    ConfigurationError,
    ConnectError,
    FunAsrError,
    Region,
    ResumePoint,
    RetryPolicy,
    StreamCore,
    region_of_url,
    workspace_url,
)
from ._choose import ENV_TRANSPORT, choose_transport
from .transport import dials_url

if TYPE_CHECKING:
    from .transport import TransportFactory

__all__ = ["ClientConfig", "KeyProvider", "Resilience", "Timeouts"]

logger = logging.getLogger(__name__)

ENV_API_KEY = "DASHSCOPE_API_KEY"
ENV_URL = "DASHSCOPE_WEBSOCKET_BASE_URL"
ENV_HTTP_URL = "DASHSCOPE_HTTP_BASE_URL"
ENV_API_KEY_FILE = "DASHSCOPE_API_KEY_FILE_PATH"
#: The SDK's key file (``dashscope.save_api_key``), read when no other key is given.
DEFAULT_API_KEY_FILE = "~/.dashscope/api_key"
#: Workspace, then region variables: the SDK 2.x name first, then the 1.x one.
ENV_WORKSPACES = ("DASHSCOPE_WORKSPACE", "DASHSCOPE_WORKSPACE_ID")
ENV_REGIONS = ("DASHSCOPE_REGION", "DASHSCOPE_API_REGION")

#: Region names as the official SDK spells them, and ours. The SDK knows six MaaS regions;
#: Fun-ASR real-time is documented for Singapore and Beijing only, so the others are refused.
REGION_NAMES: Mapping[str, Region] = {
    "ap-southeast-1": Region.INTL,
    "cn-beijing": Region.CN,
    **{region.value: region for region in Region},
}

#: A key that expires: a function, sync or async, returning the key (``str`` or
#: :class:`~pydantic.SecretStr`). It is asked on every connect, so a rotated or temporary key
#: is always fresh. A sync one runs on the event loop: keep it quick (return a cached key)
#: and do network I/O in an async one.
KeyProvider: TypeAlias = Callable[[], "str | SecretStr | Awaitable[str | SecretStr]"]


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
    * Throttling (``Throttling.*`` task-failed, HTTP 429) "typically resumes within one
      minute": an outage that includes it is retried with a slower backoff (1 s doubling to
      10 s) for up to 90 s, however many attempts that takes (``max_retries`` 0 still means
      no retry); see ``protocol/budget.py``.
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
    * ``task_rate`` / ``task_burst``: the account's task quota (``client/limiter.py``). Every
      run-task of the process takes a token from a bucket per endpoint and model that gains
      ``task_rate`` tokens per second and holds at most ``task_burst``; its audio waits in
      the replay buffer meanwhile. A finalize whose new task would wait longer than
      ``task_burst / task_rate`` seconds does not rotate: the task stays open and the
      service's endpointing ends the sentence. None (the default): 20 per second on Alibaba
      Cloud endpoints, no limit on a local server or a custom transport; a number: that rate
      on every endpoint; 0: off.
    """

    max_retries: int = 5
    max_outage: float = 30.0
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    replay_seconds: float = 20.0
    max_lead: float = 10.0
    idle_finish: float = 10.0
    standby: bool = True
    task_rate: float | None = None
    task_burst: int = 10

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
    ``url``. ``http_url`` is the base of the service's HTTP API (``.../api/v1``, e.g. for
    :func:`~funasr_realtime.client.tokens.mint_temporary_key`); None derives it from ``url``.
    With a ``key_provider``, ``api_key`` is None and every connect asks the provider
    (:meth:`with_current_key`).
    """

    url: str
    api_key: SecretStr | None = None
    region: Region | None = None
    workspace: str | None = None
    data_inspection: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    transport: TransportFactory | None = field(default=None, repr=False)
    key_provider: KeyProvider | None = field(default=None, repr=False, compare=False)
    http_url: str | None = None

    def __post_init__(self) -> None:
        # From now on this key is scrubbed from every log record and error text, including
        # where a server echoes it back (a handshake body, a close reason, a task-failed).
        register_secret(self.api_key)
        if isinstance(self.transport, str):  # a name given to the constructor, not to resolve()
            object.__setattr__(self, "transport", choose_transport(self.transport))
        if self.http_url is None:
            object.__setattr__(self, "http_url", http_base_url(self.url))

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | SecretStr | KeyProvider | None = None,
        url: str | None = None,
        region: Region | str | None = None,
        workspace: str | None = None,
        data_inspection: bool = False,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        allow_insecure: bool = False,
        transport: TransportFactory | str | None = None,
        http_url: str | None = None,
        api_key_file: str | None = None,
        default_region: Region = Region.INTL,
        require_key: bool = True,
    ) -> ClientConfig:
        """Resolve the endpoint and key from arguments, then the environment, then defaults.

        URL precedence: ``url``; ``$DASHSCOPE_WEBSOCKET_BASE_URL``; the workspace-scoped host
        of the workspace; the public endpoint of the region; that of ``default_region``
        (Singapore). The workspace is ``workspace``, else ``$DASHSCOPE_WORKSPACE``, else
        ``$DASHSCOPE_WORKSPACE_ID``. The region is ``region``, else (only when no URL is
        given either way) ``$DASHSCOPE_REGION``, else ``$DASHSCOPE_API_REGION``: ours
        (``"intl"``, ``"cn"``) or the SDK's names (``"ap-southeast-1"``, ``"cn-beijing"``); the
        SDK's other regions do not serve Fun-ASR real-time and are a :class:`ConfigurationError`.

        Key precedence, as in the SDK: ``api_key``; ``$DASHSCOPE_API_KEY``; the key file
        (``api_key_file``, else ``$DASHSCOPE_API_KEY_FILE_PATH``, else ``~/.dashscope/api_key``;
        one file is read, its text stripped; a missing file is no key). ``api_key`` may be a
        :data:`KeyProvider`, asked on every connect. An Alibaba Cloud URL without a key is a
        :class:`ConfigurationError` (unless ``require_key=False``); a local server may need none.

        ``http_url``: the HTTP API base, else ``$DASHSCOPE_HTTP_BASE_URL``, else derived from
        the URL (``wss://host/...`` -> ``https://host/api/v1``).

        Plain ``ws://`` is accepted for loopback hosts, or anywhere with ``allow_insecure=True``
        (logged as a warning): audio and the key would cross the network unencrypted.

        ``transport``: a :class:`~.transport.TransportFactory`, or a transport by name,
        ``"websockets"`` (the default), ``"picows"`` (``pip install "funasr-realtime[fast]"``)
        or ``"auto"`` (picows when installed); else ``$FUNASR_REALTIME_TRANSPORT``, a name.
        A custom factory decides what it needs, so no key is required with one (the
        in-memory :class:`~funasr_realtime.testing.MockTransport` needs none).
        """
        if transport is None:
            transport = choose_transport(os.environ.get(ENV_TRANSPORT), f"${ENV_TRANSPORT}")
        else:
            transport = choose_transport(transport)
        if not workspace:
            found = _first_env(ENV_WORKSPACES)
            workspace = found[1] if found is not None else None
        configured_url = url or os.environ.get(ENV_URL)
        wanted_region = _region(region, "region") if region is not None else None
        if wanted_region is None and configured_url is None:
            wanted_region = _env_region()
        resolved_url = configured_url or _default_url(wanted_region or default_region, workspace)
        _check_url(resolved_url, allow_insecure)
        actual_region = region_of_url(resolved_url)
        if wanted_region is not None and actual_region is not None and wanted_region != actual_region:
            raise ConfigurationError(
                f"region {wanted_region.value!r} does not match the URL's region {actual_region.value!r}"
            )
        provider = api_key if callable(api_key) else None
        secret = None if provider is not None else _static_key(api_key, api_key_file)  # type: ignore[arg-type]
        if secret is None and provider is None and actual_region is not None and dials_url(transport) and require_key:
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
            key_provider=provider,
            http_url=http_url or os.environ.get(ENV_HTTP_URL) or None,
        )

    @property
    def has_key(self) -> bool:
        """Whether connections carry a key (a fixed one or a provider's)."""
        return self.api_key is not None or self.key_provider is not None

    async def with_current_key(self) -> ClientConfig:
        """This config with the key to connect with now: itself, or with the provider's answer.

        Every key a provider returns is registered for scrubbing (it lives as long as the
        returned config). A provider that raises a :class:`FunAsrError` (e.g. a failed
        :func:`~funasr_realtime.client.tokens.mint_temporary_key`) raises it unchanged; any other
        exception becomes a :class:`ConnectError` (retried like a failed connect); an answer
        that is not a non-empty key is a :class:`ConfigurationError`.
        """
        if self.key_provider is None:
            return self
        return dataclasses.replace(self, api_key=await _ask(self.key_provider))

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


def http_base_url(url: str) -> str:
    """The HTTP API base of a WebSocket endpoint: ``wss://host/api-ws/v1/inference`` -> ``https://host/api/v1``."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/api/v1", "", ""))


def _first_env(names: tuple[str, ...]) -> tuple[str, str] | None:
    """``(name, value)`` of the first of ``names`` set to a non-empty value."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return name, value
    return None


def _env_region() -> Region | None:
    found = _first_env(ENV_REGIONS)
    return _region(found[1], f"${found[0]}") if found is not None else None


def _region(value: Region | str, source: str) -> Region:
    if isinstance(value, Region):
        return value
    region = REGION_NAMES.get(value.strip().lower())
    if region is None:
        known = ", ".join(repr(name) for name in REGION_NAMES)
        raise ConfigurationError(f"{source}={value!r}: Fun-ASR real-time is served in {known} only")
    return region


def _static_key(api_key: str | SecretStr | None, api_key_file: str | None) -> SecretStr | None:
    """``api_key``, else ``$DASHSCOPE_API_KEY``, else the key file (the SDK's order)."""
    if api_key is not None:
        return api_key if isinstance(api_key, SecretStr) else (SecretStr(api_key) if api_key else None)
    key = os.environ.get(ENV_API_KEY) or _read_key_file(api_key_file)
    return SecretStr(key) if key else None


def _read_key_file(path: str | None) -> str | None:
    # The SDK reads one file: the configured path if there is one, else the default; a
    # missing or unreadable file is simply no key (dashscope/v2/_config.py, _api_key_from_file).
    path = path or os.environ.get(ENV_API_KEY_FILE) or DEFAULT_API_KEY_FILE
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as file:
            return file.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


async def _ask(provider: KeyProvider) -> SecretStr:
    try:
        answer = provider()
        if inspect.isawaitable(answer):
            answer = await answer
    except FunAsrError:
        raise
    except Exception as exc:
        text = f"{exc}\n{exc!r}"
        clean = redact(text) == text  # the provider's own error text might hold a key
        error = ConnectError(f"the API key provider failed: {type(exc).__name__}")
        raise error from (exc if clean else None)
    if isinstance(answer, str):
        answer = SecretStr(answer.strip())
    if not isinstance(answer, SecretStr) or not answer.get_secret_value():
        raise ConfigurationError("the API key provider returned no key (expected a non-empty str or SecretStr)")
    register_secret(answer)
    return answer


def _default_url(region: Region, workspace: str | None) -> str:
    if workspace:
        return workspace_url(workspace, region)
    return ENDPOINTS[region]


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
