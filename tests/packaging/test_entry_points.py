"""Entry points with the extras installed: ``python -m``, ``-v`` anywhere, missing extras at run time."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from funasr_realtime import __version__
from funasr_realtime.cli import serve
from funasr_realtime.cli._common import verbosity
from funasr_realtime.cli.main import build_parser, main
from funasr_realtime.testing import ServerThread
from tests.timing import scaled


@pytest.mark.parametrize("module", ["funasr_realtime", "funasr_realtime.cli"])
def test_python_dash_m(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=scaled(60), check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"funasr-realtime {__version__}"


@pytest.mark.parametrize(
    ("argv", "count"),
    [
        (["serve"], 0),
        (["-v", "serve"], 1),
        (["serve", "-v"], 1),
        (["-v", "serve", "-vv"], 3),
        (["transcribe", "x.wav", "-v"], 1),
        (["mic", "-vv"], 2),
    ],
)
def test_verbose_is_accepted_before_and_after_the_subcommand(argv: list[str], count: int) -> None:
    assert verbosity(build_parser().parse_args(argv)) == count


def test_server_thread_is_the_real_one_with_the_extra() -> None:
    from funasr_realtime.server.thread import ServerThread as Real

    assert ServerThread is Real


def _raise_missing(name: str) -> object:
    def run(_args: argparse.Namespace) -> int:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    return run


def test_a_missing_server_module_at_run_time_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that imports its dependencies only when it starts still gets the hint."""
    monkeypatch.setattr(serve, "run", _raise_missing("pocketsphinx"))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err == 'funasr-realtime: error: serve needs pocketsphinx: pip install "funasr-realtime[server]"\n'


def test_a_missing_module_no_extra_provides_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "run", _raise_missing("no_such_module"))
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        main(["serve"])
