"""``funasr-realtime serve --engine sherpa-sensevoice|sherpa-funasr-nano --model-dir DIR`` as a command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.serving import SERVE, serving, stops_cleanly


@pytest.mark.parametrize("engine", ["sherpa-sensevoice", "sherpa-funasr-nano"])
def test_serve_runs_the_model_folder(engine: str, sense_voice_dir: Path, nano_dir: Path) -> None:
    folder = sense_voice_dir if engine == "sherpa-sensevoice" else nano_dir
    with serving("--engine", engine, "--model-dir", str(folder)) as (process, _):
        assert stops_cleanly(process)


def test_serve_with_a_corrupt_model_is_one_line_and_exit_1(sense_voice_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(sense_voice_dir, tmp_path / "m")
    model = folder / "model.int8.onnx"
    model.write_bytes(model.read_bytes()[:200])
    done = subprocess.run(
        [*SERVE, "--engine", "sherpa-sensevoice", "--model-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"funasr-realtime: error: {model} is not a readable ONNX model (truncated protobuf)\n"
