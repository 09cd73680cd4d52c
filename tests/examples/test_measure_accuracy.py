"""examples/measure_accuracy.py: CER or WER and RTF over a folder, against the local server."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from funasr_realtime.server.thread import ServerThread
from tests.compat.conftest import unused_url
from tests.conftest import load_speech
from tests.timing import scaled

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "measure_accuracy.py"
S1, S2 = load_speech("s1"), load_speech("s2")


def _module() -> ModuleType:
    """The example imported as a module (its dataclass needs it in sys.modules)."""
    if "measure_accuracy" not in sys.modules:
        spec = importlib.util.spec_from_file_location("measure_accuracy", EXAMPLE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["measure_accuracy"] = module
        spec.loader.exec_module(module)
    return sys.modules["measure_accuracy"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
        env=environment,
    )


def _folder(tmp_path: Path, references: dict[str, str]) -> Path:
    for name, text in references.items():
        shutil.copy(load_speech(name).path, tmp_path / f"{name}.wav")
        (tmp_path / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    return tmp_path


def test_exact_transcripts_score_zero(grammar_server: ServerThread, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"s1": S1.text.upper() + ".", "s2": S2.text})  # case and punctuation ignored
    shutil.copy(S1.path, folder / "untranscribed.wav")  # no .txt: skipped
    done = run(folder, "--url", grammar_server.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(rf"s1: WER 0\.000 \(0/{len(S1.text.split())}\), RTF \d+\.\d{{3}}: {S1.text}", lines[0])
    assert lines[1].startswith("s2: WER 0.000 (0/")
    assert lines[2] == f"WER 0.000 over 2 files (0/{len(S1.text.split()) + len(S2.text.split())})"
    assert re.fullmatch(r"RTF \d+\.\d{3} \(\d+\.\d s of audio in \d+\.\d s\)", lines[3])
    assert len(lines) == 4


def test_errors_are_counted_and_chinese_is_scored_by_characters(grammar_server: ServerThread, tmp_path: Path) -> None:
    words = S1.text.split()
    wrong = " ".join(["extra", *words[1:]])  # one substitution
    folder = _folder(tmp_path, {"s1": wrong, "s2": "今天天气很好"})
    done = run(folder, "--url", grammar_server.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"s1: WER {1 / len(words):.3f} (1/{len(words)}), RTF ")
    assert lines[1].startswith("s2: CER ")
    letters = len(_module().tokens(S2.text, "CER"))  # the English transcript shares no character with it
    assert lines[2] == f"CER {letters / 6:.3f} over 1 files ({letters}/6)"
    assert lines[3] == f"WER {1 / len(words):.3f} over 1 files (1/{len(words)})"


def test_a_folder_without_pairs_and_a_server_that_is_down_are_one_line(tmp_path: Path) -> None:
    done = run(tmp_path, "--url", unused_url())
    assert (done.returncode, done.stderr) == (
        1,
        f"measure_accuracy.py: error: no NAME.wav with its NAME.txt in {tmp_path}\n",
    )
    folder = _folder(tmp_path, {"s1": S1.text})
    done = run(folder, "--url", unused_url())
    assert done.returncode == 1
    assert done.stderr.startswith("measure_accuracy.py: error: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("reference", "hypothesis", "metric", "distance"),
    [
        ("the cat sat", "the cat sat", "WER", 0),
        ("The cat, sat.", "the bat sat on", "WER", 2),
        ("今天天气很好。", "今天 天汽很好", "CER", 1),
        ("", "extra words", "WER", 2),
    ],
)
def test_edit_distance(reference: str, hypothesis: str, metric: str, distance: int) -> None:
    module = _module()
    assert module.edit_distance(module.tokens(reference, metric), module.tokens(hypothesis, metric)) == distance
