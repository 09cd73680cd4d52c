"""Settings and limits of the local server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from .._hosts import is_loopback
from ..protocol import ConfigurationError

__all__ = ["INFERENCE_PATH", "ServerConfig"]

INFERENCE_PATH = "/api-ws/v1/inference"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the local server listens, recognizes and protects itself.

    Timers mirror the service (docs/PROTOCOL.md §5, §8): a task that receives no
    message for ``client_timeout`` seconds fails with ``CLIENT_ERROR``; a connection with
    no task for ``idle_timeout`` seconds is closed. Limits bound what one client can cost.

    Reading and backlog. Each connection reads its socket eagerly, so it keeps answering
    pings while recognition runs behind, and queues the frames it has not recognized yet.
    That backlog is bounded per task by ``max_backlog_seconds`` of audio for pcm and wav
    (60 s: 1.92 MB at 16 kHz, 0.96 MB at 8 kHz) or ``max_backlog_compressed_bytes`` for
    compressed formats (1 MiB), and across all connections by ``max_backlog_bytes_total``
    (256 MiB). Above a bound the server stops reading that socket until the backlog is
    down to half: TCP backpressure, nothing is lost and nothing fails; a client sending a
    whole file back to back (the official SDK's ``call()``) is simply slowed to the
    recognition speed. The ``client_timeout`` clock is suspended while the server is the
    one not reading, and counts from the last frame *received*, not processed. The
    funasr-realtime client paces itself to stay at most 10 s of audio ahead of the
    results, so it never reaches the bound.

    Clients that do not read. A result the client's socket does not accept within
    ``client_timeout`` aborts the connection, as does a close frame that cannot be sent;
    the server uses these timers instead of websockets' ping keepalive (a pong can sit
    behind input the server has not read). A silent or half-open client is closed
    ``client_timeout`` (task running) or ``idle_timeout`` (no task) after its last frame.

    Memory a connection can hold on the wire side: its backlog bound, plus at most
    ``(4 + 1) * max_message_bytes`` in websockets' receive queue while reading is paused,
    plus 32 KiB of unsent results, plus ``socket_buffer_bytes`` (256 KiB, doubled by
    Linux) in each direction in the kernel. So with every connection misbehaving the backlogs stay
    under ``max_backlog_bytes_total + max_connections * 5 * max_message_bytes``
    (256 MiB + 320 MiB by default), on top of the engine's per-task decoder memory.

    Fairness. Recognition runs in jobs of at most 200 ms of audio on the engine threads
    shared by all connections: a connection with at most 2 s of audio queued (a real-time
    session) is served first; the others, clients streaming as fast as they can, are
    served round-robin, one job each per round.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: SecretStr | None = None
    #: Decides which keys the handshake accepts, instead of ``api_key``: called with the bearer
    #: token, True to accept (e.g. temporary keys that expire; a rejected key gets HTTP 401).
    accept_key: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)
    engine: str = "pocketsphinx"
    grammar: Path | None = None
    #: The fixture the ``replay`` engine plays: a bundled name (``zh``, ``zh-en``) or a JSON
    #: file (see ``server/replay``); None: ``zh``. Only with ``engine="replay"``.
    replay: str | Path | None = None
    #: The model folder of a sherpa-onnx engine (``sherpa-*``; ``funasr-realtime models``
    #: lists where to get each). Required by those engines, refused by the others.
    model_dir: Path | None = None
    client_timeout: float = 23.0
    idle_timeout: float = 60.0
    handshake_timeout: float = 10.0
    #: Heartbeat results are sent after this much silent audio when ``heartbeat=true``.
    heartbeat_interval_ms: int = 2000
    #: Largest WebSocket message accepted (audio frame or instruction).
    max_message_bytes: int = 256 * 1024
    #: Connections served at once; more are refused with HTTP 503 at the handshake.
    max_connections: int = 256
    #: Audio a single task may carry (a runaway client cannot pin a decoder forever).
    max_task_audio_s: float = 3600.0
    #: pocketsphinx decoders lent to open sentences (about 61 MB each with the general LM);
    #: more open sentences share them (see ``engines/pocketsphinx.py``).
    max_decoders: int = 8
    #: Audio (pcm, wav) a task may have received and not yet recognized before the server
    #: stops reading its socket until half of it is recognized.
    max_backlog_seconds: float = 60.0
    #: The same bound for compressed formats, in bytes (their duration is known only once decoded).
    max_backlog_compressed_bytes: int = 1 << 20
    #: The same bound over all connections together, in bytes.
    max_backlog_bytes_total: int = 256 << 20
    #: Kernel send and receive buffer of each connection (SO_SNDBUF, SO_RCVBUF; Linux
    #: doubles it): bounds what a client can park in the server's kernel, and how much of
    #: the results a client that does not read can make the server hold.
    socket_buffer_bytes: int = 256 * 1024
    #: The account's task quota, as the service enforces it: run-task starts accepted per
    #: second per model (the service allows about 20). A run-task over it fails with
    #: task-failed ``Throttling.RateQuota``. None: no limit.
    task_rate: float | None = None
    #: Starts the quota accepts at once, after a quiet while (None: one second's worth).
    task_burst: int | None = None

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and self.api_key is None and self.accept_key is None:
            raise ConfigurationError(f"refusing to listen on {self.host} without an API key (use --api-key)")
        limits = (
            self.max_decoders,
            self.max_backlog_seconds,
            self.max_backlog_compressed_bytes,
            self.max_backlog_bytes_total,
            self.socket_buffer_bytes,
        )
        if min(limits) <= 0:
            raise ConfigurationError("decoder, backlog and socket buffer limits must be positive")
        if (self.task_rate is not None and not self.task_rate > 0) or (self.task_burst or 1) < 1:
            raise ConfigurationError("task_rate must be positive and task_burst at least 1 (or None)")
        if self.replay is not None and self.engine != "replay":
            raise ConfigurationError(f"a replay fixture needs --engine replay, not {self.engine!r}")
        self._check_model_dir()
        if self.grammar is not None and not Path(self.grammar).is_file():
            raise ConfigurationError(f"grammar file not found: {self.grammar}")

    def _check_model_dir(self) -> None:
        """A sherpa engine needs a folder holding its model's files; other engines take none."""
        if not self.engine.startswith("sherpa-"):
            if self.model_dir is not None:
                raise ConfigurationError(f"--model-dir is for the sherpa-* engines, not {self.engine!r}")
            return
        from .engines.catalog import check_model_dir

        check_model_dir(self.engine, self.model_dir)
