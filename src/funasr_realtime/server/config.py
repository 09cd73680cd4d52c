"""Settings and limits of the local server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from .._hosts import is_loopback
from ..protocol import ConfigurationError

__all__ = ["INFERENCE_PATH", "ServerConfig"]

INFERENCE_PATH = "/api-ws/v1/inference"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the local server listens, recognizes and protects itself.

    Timers mirror the service (dashscope-protocol.md §5, §8): a task that receives no
    message for ``client_timeout`` seconds fails with ``CLIENT_ERROR``; a connection with
    no task for ``idle_timeout`` seconds is closed. Limits bound what one client can cost.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: SecretStr | None = None
    engine: str = "pocketsphinx"
    grammar: Path | None = None
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

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and self.api_key is None:
            raise ConfigurationError(f"refusing to listen on {self.host} without an API key (use --api-key)")
        if self.grammar is not None and not Path(self.grammar).is_file():
            raise ConfigurationError(f"grammar file not found: {self.grammar}")
