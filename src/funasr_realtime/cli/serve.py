"""``funasr-realtime serve``: run the local server until SIGINT or SIGTERM.

It prints ``listening on URL`` on stdout once it accepts connections. A server that cannot
start (a grammar the engine refuses, a port in use) is one error line and exit code 1.
With ``--workers N`` it starts N server processes on one port and prints the line once all
of them serve (:mod:`funasr_realtime.server.workers`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ..protocol import ConfigurationError
from ..server import LocalServer, ServerConfig
from ..server.engines import ENGINE_NAMES


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run a local server speaking the DashScope real-time ASR protocol",
        description="Serve the DashScope real-time ASR protocol with local open-source recognition: English "
        "(pocketsphinx, built in) or FunASR's Chinese and English models (--engine sherpa-*, see 'models').",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument("--api-key", help="require this key as 'Authorization: Bearer KEY' (needed off loopback)")
    parser.add_argument("--engine", default="pocketsphinx", choices=ENGINE_NAMES, help="recognition engine")
    parser.add_argument(
        "--grammar",
        type=Path,
        help="JSGF V1.0 grammar restricting recognition (exact, deterministic); words must be in the en-us dictionary",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="with --engine sherpa-*: the unpacked model folder ('funasr-realtime models' lists where to get it)",
    )
    parser.add_argument(
        "--replay",
        metavar="FIXTURE",
        help="with --engine replay: the recorded results every task plays back, "
        "a bundled fixture (zh, zh-en; default zh) or a JSON file",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve with N processes on one port, each with its own engine, restarted if one dies (default 1)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = ServerConfig(
        host=args.host,
        port=args.port,
        api_key=SecretStr(args.api_key) if args.api_key else None,
        engine=args.engine,
        grammar=args.grammar,
        replay=args.replay,
        model_dir=args.model_dir,
    )
    asyncio.run(_serve(config) if args.workers == 1 else _serve_workers(config, args.workers))
    return 0


async def _serve(config: ServerConfig) -> None:
    stop = _stop_on_signals()
    async with contextlib.AsyncExitStack() as stack:
        with _engine_refusal(config):
            server = await stack.enter_async_context(LocalServer(config))
        print(f"listening on {server.url}", flush=True)
        await stop.wait()


async def _serve_workers(config: ServerConfig, workers: int) -> None:
    """``--workers N``: one ``listening on`` line once every worker serves (see server.workers)."""
    from ..server.workers import WorkerPool

    stop = _stop_on_signals()
    pool = WorkerPool(config, workers)
    try:
        await pool.start()
    except ConfigurationError as exc:  # a worker's engine refused its settings
        raise ConfigurationError(_PYTHON_ADVICE.sub("", str(exc))) from None
    try:
        print(f"listening on {pool.url}", flush=True)
        await stop.wait()
    finally:
        await pool.stop()


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    return stop


# The engine's message may advise a Python argument; the CLI has no such flag.
_PYTHON_ADVICE = re.compile(r"\s*\(pass \w+=[^)]*\)")


@contextlib.contextmanager
def _engine_refusal(config: ServerConfig) -> Iterator[None]:
    """While the engine loads: its ValueError (a grammar it cannot use) becomes a one-line
    ConfigurationError, and stdout is muted, because pocketsphinx's JSGF lexer echoes the text
    it cannot parse there, where a supervisor waits for ``listening on``."""
    try:
        with _muted_stdout() if config.grammar is not None else contextlib.nullcontext():
            yield
    except ValueError as exc:
        reason = _PYTHON_ADVICE.sub("", str(exc))
        where = f"--grammar {config.grammar}: " if config.grammar is not None else ""
        raise ConfigurationError(f"{where}{reason}") from None


@contextlib.contextmanager
def _muted_stdout() -> Iterator[None]:
    """File descriptor 1 goes to the null device for the duration (C code writes there directly)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all: nothing to protect
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
