"""The tiny streaming Paraformer, built once per session, and a server running it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.sherpa import tiny_paraformer

from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread


@pytest.fixture(scope="session")
def paraformer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder as the archive unpacks it (int8 names), holding the tiny model."""
    return tiny_paraformer.build(tmp_path_factory.mktemp("sherpa") / "sherpa-onnx-streaming-paraformer-bilingual-zh-en")


@pytest.fixture(scope="session")
def paraformer_server(paraformer_dir: Path) -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(engine="sherpa-paraformer", model_dir=paraformer_dir)) as server:
        yield server
