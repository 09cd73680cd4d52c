"""``funasr-realtime serve``: run the local server until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ..server import LocalServer, ServerConfig
from ..server.engines import ENGINE_NAMES


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run a local server speaking the DashScope real-time ASR protocol",
        description="Serve the DashScope real-time ASR protocol with local open-source recognition (English).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument("--api-key", help="require this key as 'Authorization: Bearer KEY' (needed off loopback)")
    parser.add_argument("--engine", default="pocketsphinx", choices=ENGINE_NAMES, help="recognition engine")
    parser.add_argument("--grammar", type=Path, help="JSGF grammar restricting recognition (exact, deterministic)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = ServerConfig(
        host=args.host,
        port=args.port,
        api_key=SecretStr(args.api_key) if args.api_key else None,
        engine=args.engine,
        grammar=args.grammar,
    )
    asyncio.run(_serve(config))
    return 0


async def _serve(config: ServerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with LocalServer(config) as server:
        print(f"listening on {server.url}", flush=True)
        await stop.wait()
