"""Test kit for Chinese end to end: local servers replaying the bundled fixtures, silent audio.

The ``replay`` engine sends a fixture's recorded results at the audio time each is due,
whatever the audio holds (see ``funasr_realtime.server.replay``), so any silence of the
right length gives the fixture's transcript. Import the server fixtures into a test module
to use them (``from tests.replay import zh_server  # noqa: F401``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from funasr_realtime.server import ServerConfig
from funasr_realtime.server.replay import load_fixture
from funasr_realtime.server.thread import ServerThread

ZH = load_fixture("zh")
MIXED = load_fixture("zh-en")
#: The final texts of the fixtures, in order.
ZH_FINALS = [s.text for s in ZH.finals]
MIXED_FINALS = [s.text for s in MIXED.finals]


def silence(ms: int, sample_rate: int = 16000) -> bytes:
    """``ms`` of silent s16le mono PCM."""
    return bytes(ms * sample_rate // 1000 * 2)


def frames(ms: int, frame_ms: int = 100, sample_rate: int = 16000) -> Iterator[bytes]:
    """``ms`` of silence in frames of ``frame_ms``."""
    for start in range(0, ms, frame_ms):
        yield silence(min(frame_ms, ms - start), sample_rate)


@pytest.fixture(scope="session")
def zh_server() -> Iterator[ServerThread]:
    """A local server whose every task replays the Chinese fixture."""
    with ServerThread(ServerConfig(engine="replay", replay="zh")) as server:
        yield server


@pytest.fixture(scope="session")
def mixed_server() -> Iterator[ServerThread]:
    """A local server whose every task replays the mixed Chinese and English fixture."""
    with ServerThread(ServerConfig(engine="replay", replay="zh-en")) as server:
        yield server
