"""``funasr-realtime`` entry point: parses arguments and dispatches to a subcommand."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..protocol import FunAsrError
from . import mic, serve, transcribe

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="funasr-realtime",
        description="Fun-ASR real-time speech recognition: client tools and a local server.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(commands)
    transcribe.add_parser(commands)
    mic.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failure, 2 usage error)."""
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.run(args)
    except FunAsrError as exc:
        print(f"funasr-realtime: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # unreadable input files, a port already in use...
        print(f"funasr-realtime: error: {_os_reason(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _os_reason(exc: OSError) -> str:
    """``No such file or directory: x.wav`` rather than ``[Errno 2] ...: 'x.wav'``."""
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc)
