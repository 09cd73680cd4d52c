"""Shared test kit: real local servers on 127.0.0.1:0 and the speech fixtures."""

from __future__ import annotations

import json
import logging
import os
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.timing import MS

SPEECH = Path(__file__).parent / "fixtures" / "speech"
GRAMMAR = SPEECH / "sentences.jsgf"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scale every test's pytest-timeout bound by ``FUNASR_TEST_MS``, as every other bound is.

    A test's bound is its ``timeout`` marker, else ``--timeout`` or the ini default (120 s).
    Without this a test whose waits all scale would still be killed beside a CPU hog.
    """
    if MS == 1:
        return
    default = config.getvalue("timeout") or config.getini("timeout")
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = (marker.args[0] if marker.args else marker.kwargs.get("timeout")) if marker else default
        if seconds:
            options = {k: v for k, v in marker.kwargs.items() if k != "timeout"} if marker else {}
            item.add_marker(pytest.mark.timeout(float(seconds) * MS, **options), append=False)


@dataclass(frozen=True)
class Speech:
    """A fixture recording: PCM samples and what is said."""

    name: str
    path: Path
    pcm: bytes
    sample_rate: int
    texts: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    @property
    def duration_ms(self) -> int:
        return len(self.pcm) * 1000 // (2 * self.sample_rate)


def load_speech(name: str, rate: int = 16000) -> Speech:
    """``load_speech("s1")`` or ``load_speech("long", 8000)``."""
    path = SPEECH / f"{name}_{rate // 1000}k.wav"
    with wave.open(str(path)) as w:
        pcm = w.readframes(w.getnframes())
        assert w.getframerate() == rate
    transcripts = json.loads((SPEECH / "transcripts.json").read_text())
    texts = transcripts[name]
    return Speech(name, path, pcm, rate, tuple(texts) if isinstance(texts, list) else (texts,))


def chunks(pcm: bytes, size: int = 3200) -> Iterator[bytes]:
    """100 ms frames of 16 kHz PCM by default."""
    for i in range(0, len(pcm), size):
        yield pcm[i : i + size]


@pytest.fixture(scope="session")
def grammar_server() -> Iterator[ServerThread]:
    """The real pocketsphinx server restricted to the fixture sentences: exact transcripts."""
    with ServerThread(ServerConfig(grammar=GRAMMAR)) as server:
        yield server


@pytest.fixture(scope="session")
def open_server() -> Iterator[ServerThread]:
    """The real pocketsphinx server with its general English language model."""
    with ServerThread(ServerConfig()) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real key, key file, endpoint, workspace or region."""
    for name in (
        "DASHSCOPE_API_KEY",
        "DASHSCOPE_WEBSOCKET_BASE_URL",
        "DASHSCOPE_HTTP_BASE_URL",
        "DASHSCOPE_WORKSPACE",
        "DASHSCOPE_WORKSPACE_ID",
        "DASHSCOPE_REGION",
        "DASHSCOPE_API_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    # The key file the SDK (and ClientConfig.resolve) reads is this empty one, never
    # ~/.dashscope/api_key; the key-file tests set their own.
    monkeypatch.setenv("DASHSCOPE_API_KEY_FILE_PATH", os.devnull)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def minute_of_speech(rate: int = 16000) -> tuple[bytes, list[str]]:
    """65 s of speech: the long fixture three times, 1.5 s of silence between (the sentences
    would otherwise run into each other), and the sentences said, in order."""
    speech = load_speech("long", rate)
    gap = b"\x00\x00" * (rate * 3 // 2)
    return (speech.pcm + gap) * 3, list(speech.texts) * 3
