"""Run `funasr-realtime serve` as a separate process (load tests: its own GIL and core)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def served(*args: str, timeout: float = 60.0) -> Iterator[str]:
    """Start the server with extra CLI ``args``; yield its URL; terminate it afterwards."""
    with served_process(*args, timeout=timeout) as (_, url):
        yield url


@contextmanager
def served_process(*args: str, timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """:func:`served`, yielding the process too (to read its /proc figures)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "funasr_realtime.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on "), f"server did not start: {line!r}"
        yield process, line.removeprefix("listening on ").strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
