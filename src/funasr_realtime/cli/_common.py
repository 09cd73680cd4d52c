"""Options shared by the client subcommands (``transcribe``, ``mic``) and what they build."""

from __future__ import annotations

import argparse

from ..client import Client
from ..protocol import find_model

__all__ = ["add_client_options", "default_sample_rate", "make_client"]


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="WebSocket endpoint (default: $DASHSCOPE_WEBSOCKET_BASE_URL, else Singapore)")
    parser.add_argument("--api-key", help="API key (default: $DASHSCOPE_API_KEY; a local server may need none)")
    parser.add_argument("--model", default="fun-asr-realtime", help="recognition model (default fun-asr-realtime)")
    parser.add_argument("--sample-rate", type=int, help="sample rate in Hz (default: the WAV's, else the model's)")
    parser.add_argument("--language", help="language hint, e.g. en or zh (default: detected by the model)")


def make_client(args: argparse.Namespace) -> Client:
    """A client for ``--url`` / ``--api-key`` (or the environment). Raises ConfigurationError."""
    return Client(api_key=args.api_key, url=args.url)


def default_sample_rate(model: str) -> int:
    """The model's only rate when it has one (8 kHz models), else 16 kHz."""
    spec = find_model(model)
    if spec is not None and spec.sample_rates is not None and len(spec.sample_rates) == 1:
        return next(iter(spec.sample_rates))
    return 16000
