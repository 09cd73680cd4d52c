"""``funasr-realtime models`` and ``serve --engine sherpa-paraformer --model-dir``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.serving import serving, stops_cleanly

from funasr_realtime.cli.main import main
from funasr_realtime.server.engines.catalog import MODELS, find_model


def test_models_lists_every_model_with_its_fetch_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for model in MODELS:
        assert f"{model.engine} ({', '.join(model.languages)}; word timestamps: " in out
        assert f"  url:     {model.url}\n" in out
        assert f"  fetch:   {model.fetch_command}\n" in out
        assert f"  serve:   funasr-realtime serve --engine {model.engine} --model-dir {model.folder}\n" in out
    assert out.count("  sha256:  not published by sherpa-onnx (the fetch command checks the published file sizes)") == 3
    assert "sherpa-paraformer (zh, en; word timestamps: no)" in out


def test_models_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["engine"] for m in listed] == [m.engine for m in MODELS]
    paraformer = listed[0]
    assert paraformer["files"] == {
        "encoder": ["encoder.int8.onnx", "encoder.onnx"],
        "decoder": ["decoder.int8.onnx", "decoder.onnx"],
        "tokens": ["tokens.txt"],
    }
    assert paraformer["sha256"] is None
    assert paraformer["fetch_command"] == find_model("sherpa-paraformer").fetch_command


def test_models_on_a_terminal_keeps_each_command_on_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["models"]) == 0
    plain = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    for model in MODELS:
        assert f"  fetch:   {model.fetch_command}\n" in plain


def test_models_on_a_terminal_without_rich(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    assert main(["models"]) == 0
    assert capsys.readouterr().out.startswith("sherpa-paraformer (zh, en; word timestamps: no)\n  folder:  ")


def test_models_without_the_server_names_the_install_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "funasr_realtime.server.engines.catalog", None)
    assert main(["models"]) == 1
    assert capsys.readouterr().err.startswith("funasr-realtime: error: models needs the local server (")


SERVE = (sys.executable, "-m", "funasr_realtime.cli", "serve", "--engine", "sherpa-paraformer")


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_without_a_model_folder_is_one_line_and_exit_1() -> None:
    done = _serve()
    assert done.returncode == 1
    assert done.stderr.startswith("funasr-realtime: error: --engine sherpa-paraformer needs --model-dir")
    assert done.stderr.count("\n") == 1
    assert done.stderr.rstrip().endswith(find_model("sherpa-paraformer").fetch_command)


def test_serve_with_an_incomplete_model_folder_names_the_missing_file(tmp_path: Path) -> None:
    (tmp_path / "encoder.int8.onnx").write_bytes(b"")
    done = _serve("--model-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith(f"funasr-realtime: error: {tmp_path} has no decoder.int8.onnx or decoder.onnx ")
    assert done.stderr.count("\n") == 1


def test_serve_runs_the_model_folder(paraformer_dir: Path) -> None:
    with serving("--engine", "sherpa-paraformer", "--model-dir", str(paraformer_dir)) as (process, _):
        assert stops_cleanly(process)
