"""Options shared by the client subcommands (``transcribe``, ``mic``) and what they build."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

from .._hosts import is_loopback
from ..client import Client
from ..protocol import ConfigurationError

__all__ = [
    "add_client_options",
    "add_common_options",
    "check_sample_rate",
    "is_quiet",
    "make_client",
    "quiet_library",
    "verbosity",
    "warn",
]

# The library's messages name Python arguments; the CLI user needs the flag that does the same.
_FLAG_FOR_ARGUMENT = (("allow_insecure=True", "--allow-insecure"), ("pass api_key=", "pass --api-key"))


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet`` on a subcommand, so it works after it too (``transcribe x.wav -q``).

    The default is SUPPRESS: a subcommand that does not see the flag leaves the value a
    top-level ``--quiet`` set untouched. Read it with :func:`is_quiet`. (``-v`` after the
    subcommand is the entry point's: it adds one to every subcommand, see :func:`verbosity`.)
    """
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress display and no closing summary (warnings and errors still show)",
    )


def is_quiet(args: argparse.Namespace) -> bool:
    """Whether ``--quiet`` was given, before or after the subcommand."""
    return bool(getattr(args, "quiet", False))


def verbosity(args: argparse.Namespace) -> int:
    """How many ``-v`` were given, before the subcommand (``verbose``) and after it (``sub_verbose``)."""
    return int(getattr(args, "verbose", 0)) + int(getattr(args, "sub_verbose", 0))


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="WebSocket endpoint (default: $DASHSCOPE_WEBSOCKET_BASE_URL, else Singapore)")
    parser.add_argument("--api-key", help="API key (default: $DASHSCOPE_API_KEY; a local server may need none)")
    parser.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow plain ws:// to a host that is not loopback (audio and key travel unencrypted)",
    )
    parser.add_argument("--model", default="fun-asr-realtime", help="recognition model (default fun-asr-realtime)")
    parser.add_argument("--sample-rate", type=int, help="sample rate in Hz (default: the WAV's, else the model's)")
    parser.add_argument("--language", help="language hint, e.g. en or zh (default: detected by the model)")
    add_common_options(parser)


def make_client(args: argparse.Namespace) -> Client:
    """A client for ``--url`` / ``--api-key`` / ``--allow-insecure`` (or the environment).

    Raises ConfigurationError, worded with the CLI's flags rather than Python arguments.
    """
    try:
        client = Client(api_key=args.api_key, url=args.url, allow_insecure=args.allow_insecure)
    except ConfigurationError as exc:
        message = str(exc)
        for argument, flag in _FLAG_FOR_ARGUMENT:
            message = message.replace(argument, flag)
        raise ConfigurationError(message) from None
    host = urlsplit(client.config.url).hostname or ""
    if client.config.url.startswith("ws://") and not is_loopback(host):
        # The library logs this, but its logs are silenced at default verbosity.
        warn(f"connecting to {host} without TLS: audio and API key travel unencrypted")
    return client


def check_sample_rate(args: argparse.Namespace) -> None:
    """Refuse ``--sample-rate`` 0 or below (0 must not silently mean "the default")."""
    if args.sample_rate is not None and args.sample_rate <= 0:
        raise ConfigurationError(f"--sample-rate must be a positive number of Hz, not {args.sample_rate}")


def warn(message: str) -> None:
    """One line on stderr, the CLI's own voice (library logs stay quiet at default verbosity)."""
    print(f"funasr-realtime: warning: {message}", file=sys.stderr)


@contextlib.contextmanager
def quiet_library(verbose: int) -> Iterator[None]:
    """At default verbosity, silence the library's own log records for the duration: the CLI
    reports what matters itself, in one line each (warnings, then at most one error).
    ``-v`` and ``-vv`` leave logging as the entry point configured it."""
    if verbose:
        yield
        return
    library = logging.getLogger("funasr_realtime")
    level = library.level
    library.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        library.setLevel(level)
