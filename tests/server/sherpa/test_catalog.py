"""The model catalog: pinned names, published facts, the fetch command and check_model_dir."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.engines.catalog import MODELS, CatalogModel, check_model_dir, find_model

RELEASE = "https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models/"


def test_the_three_pinned_engines_are_catalogued() -> None:
    assert [m.engine for m in MODELS] == ["sherpa-paraformer", "sherpa-sensevoice", "sherpa-funasr-nano"]
    for model in MODELS:
        assert model.url == f"{RELEASE}{model.folder}.tar.bz2"
        assert model.sha256 is None, "the publisher gives no checksum: none is invented"
        assert model.source.startswith("https://k2-fsa.github.io/sherpa/onnx/")
        assert "zh" in model.languages and "en" in model.languages
    assert find_model("sherpa-paraformer").word_timestamps is False
    with pytest.raises(KeyError):
        find_model("pocketsphinx")


def _fake_folder(model: CatalogModel, root: Path, *, size_delta_mib: int = 0) -> Path:
    """The model's folder with its first-choice files, sparse, of the published sizes."""
    folder = root / model.folder
    folder.mkdir(parents=True)
    for wanted in model.files:
        variant = wanted.variants[0]
        path = folder / variant.name
        if wanted.directory:
            path.mkdir()
            continue
        mib = 1 if variant.size_mib is None else variant.size_mib + size_delta_mib
        with path.open("wb") as f:
            f.truncate(mib * 2**20 - 1000)
    return folder


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.engine)
def test_check_model_dir_resolves_every_role(model: CatalogModel, tmp_path: Path) -> None:
    folder = _fake_folder(model, tmp_path)
    found = check_model_dir(model.engine, folder)
    assert found == {f.role: folder / f.variants[0].name for f in model.files}
    assert check_model_dir(model.engine, tmp_path) == found, "the folder the archive was unpacked in"


def test_a_folder_lacking_a_file_names_the_first_missing_one(tmp_path: Path) -> None:
    nano = find_model("sherpa-funasr-nano")
    folder = _fake_folder(nano, tmp_path)
    (folder / "Qwen3-0.6B").rmdir()
    with pytest.raises(ConfigurationError) as caught:
        check_model_dir("sherpa-funasr-nano", folder)
    assert str(caught.value) == (
        f"{folder} has no Qwen3-0.6B (the sherpa-funasr-nano model's tokenizer); fetch it with: {nano.fetch_command}"
    )


def _run_fetch(model: CatalogModel, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The fetch command as printed, with curl and tar stubbed out (nothing downloads in tests)."""
    bin_dir = cwd / "bin"
    bin_dir.mkdir()
    for tool in ("curl", "tar"):
        stub = bin_dir / tool
        stub.write_text("#!/bin/sh\ncat > /dev/null 2>&1 || true\n")
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["sh", "-c", model.fetch_command], cwd=cwd, env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.engine)
def test_the_fetch_command_checks_the_published_sizes(model: CatalogModel, tmp_path: Path) -> None:
    _fake_folder(model, tmp_path)
    done = _run_fetch(model, tmp_path)
    assert (done.returncode, done.stdout) == (0, f"{model.folder}: sizes ok\n"), done.stderr


def test_the_fetch_command_reports_a_truncated_file(tmp_path: Path) -> None:
    model = find_model("sherpa-paraformer")
    _fake_folder(model, tmp_path, size_delta_mib=-20)
    done = _run_fetch(model, tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["size mismatch: encoder.int8.onnx", "size mismatch: decoder.int8.onnx"]


def test_the_config_requires_a_model_folder_for_sherpa_engines_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^--engine sherpa-paraformer needs --model-dir"):
        ServerConfig(engine="sherpa-paraformer")
    with pytest.raises(ConfigurationError, match=r"^model folder not found"):
        ServerConfig(engine="sherpa-sensevoice", model_dir=tmp_path / "none")
    with pytest.raises(ConfigurationError, match=r"^--model-dir is for the sherpa-\* engines, not 'synthetic'"):
        ServerConfig(engine="synthetic", model_dir=tmp_path)
