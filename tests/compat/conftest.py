"""Fixtures for the SDK-compatible facade: module settings, a strict server, a recording callback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

import funasr_realtime.compat as compat
from funasr_realtime.compat import RecognitionCallback, RecognitionResult
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.conftest import GRAMMAR

#: The key the strict server accepts.
STRICT_KEY = "sk-compat-test-4f1b2c"
#: The strict server fails a task that receives nothing for this long (the service: 23 s).
CLIENT_TIMEOUT_S = 0.5


@pytest.fixture(scope="session")
def strict_server() -> Iterator[ServerThread]:
    """The grammar server with an API key and a short client timeout."""
    config = ServerConfig(grammar=GRAMMAR, api_key=SecretStr(STRICT_KEY), client_timeout=CLIENT_TIMEOUT_S)
    with ServerThread(config) as server:
        yield server


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Module attributes reset around each test (set them with ``settings.setattr``)."""
    monkeypatch.setattr(compat, "api_key", None)
    monkeypatch.setattr(compat, "base_websocket_api_url", None)
    return monkeypatch


@pytest.fixture
def local(settings: pytest.MonkeyPatch, grammar_server: ServerThread) -> str:
    """Point the module at the grammar server, as the SDK samples do with their URL."""
    settings.setattr(compat, "base_websocket_api_url", grammar_server.url)
    return grammar_server.url


def unused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/api-ws/v1/inference"


class Recorder(RecognitionCallback):
    """Records every callback: name, argument, thread, and whether two ever overlapped."""

    def __init__(self, event_delay: float = 0.0) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.threads: set[threading.Thread] = set()
        self.max_active = 0
        self.first_event = threading.Event()
        self.closed = threading.Event()
        self._active = 0
        self._event_delay = event_delay
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def results(self, name: str = "event") -> list[RecognitionResult]:
        return [arg for n, arg in self.calls if n == name]

    def sentences(self) -> list[dict[str, Any]]:
        return [result.get_sentence() for result in self.results()]

    def _record(self, name: str, arg: Any = None, delay: float = 0.0) -> None:
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
            self.threads.add(threading.current_thread())
            self.calls.append((name, arg))
        if delay:
            threading.Event().wait(delay)
        with self._lock:
            self._active -= 1

    def on_open(self) -> None:
        self._record("open")

    def on_event(self, result: RecognitionResult) -> None:
        self._record("event", result, self._event_delay)
        self.first_event.set()

    def on_complete(self) -> None:
        self._record("complete")

    def on_error(self, result: RecognitionResult) -> None:
        self._record("error", result)

    def on_close(self) -> None:
        self._record("close")
        self.closed.set()
