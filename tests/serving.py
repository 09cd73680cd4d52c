"""`funasr-realtime serve` as a program, for the tests that run the command itself."""

from __future__ import annotations

import contextlib
import select
import signal
import subprocess
import sys
from collections.abc import Iterator

from tests.timing import scaled

SERVE = (sys.executable, "-m", "funasr_realtime.cli", "serve")
LISTENING = "listening on ws://127.0.0.1:"


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``funasr-realtime serve ARGS`` in a child process: yields it and the URL it announced.

    Fails if it says nothing within 60 s (scaled) or its first line is not the listening
    line. The child is killed on the way out, whatever happened (a test that stops it
    first, with :func:`stops_cleanly`, leaves nothing to kill).
    """
    process = subprocess.Popen([*SERVE, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], scaled(60))
        assert ready, "serve said nothing"
        line = process.stdout.readline()
        assert line.startswith(LISTENING), line
        yield process, line.strip().removeprefix("listening on ")
    finally:
        process.kill()
        process.wait(scaled(30))


def stops_cleanly(process: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> bool:
    """Send ``sig``; True if the server then exits with status 0 within ``timeout`` (scaled) seconds."""
    process.send_signal(sig)
    return process.wait(timeout=scaled(timeout)) == 0
