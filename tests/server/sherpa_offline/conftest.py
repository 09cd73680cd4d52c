"""The tiny SenseVoice and Fun-ASR-Nano model folders, built once per session, engines and servers on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.sherpa_offline.tiny_nano import build_folder as build_nano
from tests.server.sherpa_offline.tiny_sense_voice import build_folder

from funasr_realtime.server import ServerConfig
from funasr_realtime.server.engines.sherpa_nano import FunAsrNanoEngine
from funasr_realtime.server.engines.sherpa_offline import SenseVoiceEngine
from funasr_realtime.server.thread import ServerThread


@pytest.fixture(scope="session")
def sense_voice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_folder(tmp_path_factory.mktemp("sense-voice") / "sherpa-onnx-sense-voice-tiny")


@pytest.fixture(scope="session")
def sense_voice(sense_voice_dir: Path) -> SenseVoiceEngine:
    return SenseVoiceEngine(sense_voice_dir)


@pytest.fixture(scope="session")
def sense_voice_server(sense_voice_dir: Path) -> Iterator[ServerThread]:
    """The local server with ``--engine sherpa-sensevoice --model-dir`` the tiny model."""
    with ServerThread(ServerConfig(engine="sherpa-sensevoice", model_dir=sense_voice_dir)) as server:
        yield server


@pytest.fixture(scope="session")
def nano_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_nano(tmp_path_factory.mktemp("funasr-nano") / "sherpa-onnx-funasr-nano-tiny")


@pytest.fixture(scope="session")
def nano(nano_dir: Path) -> FunAsrNanoEngine:
    return FunAsrNanoEngine(nano_dir)


@pytest.fixture(scope="session")
def nano_server(nano_dir: Path) -> Iterator[ServerThread]:
    """The local server with ``--engine sherpa-funasr-nano --model-dir`` the tiny model."""
    with ServerThread(ServerConfig(engine="sherpa-funasr-nano", model_dir=nano_dir)) as server:
        yield server
