"""Run one benchmark function in this (fresh) process and print its JSON result.

    python -m bench.worker [--cpus 0] MODULE FUNCTION '{"json": "args"}'

The function may be sync or async; its dict result is printed on a line ``RESULT {...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import logging
import os
import sys

from .common import pin, raise_fd_limit


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--cpus", help="comma-separated CPUs to pin this process to")
    parser.add_argument("module")
    parser.add_argument("function")
    parser.add_argument("args", help="keyword arguments as a JSON object")
    options = parser.parse_args()
    pin([int(c) for c in options.cpus.split(",")] if options.cpus else None)
    raise_fd_limit()
    logging.basicConfig(level=logging.ERROR)
    function = getattr(importlib.import_module(f"bench.{options.module}"), options.function)
    kwargs = json.loads(options.args)
    result = asyncio.run(function(**kwargs)) if inspect.iscoroutinefunction(function) else function(**kwargs)
    print("RESULT " + json.dumps(result), flush=True)
    sys.stderr.flush()
    # The official SDK leaves non-daemon threads behind (its loop and timer threads); the
    # result is out, so do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    main()
