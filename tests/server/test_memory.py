"""Server memory under many connections left mid-sentence (issue 12: bounded memory per connection).

The server runs in its own process with the default engine (pocketsphinx, general LM) so its RSS
is measured alone, from /proc.  The documented ceiling (docs/RELIABILITY.md, "Server under
abuse") is ``idle + (max_decoders - 1) x DECODER_MB + connections x TASK_MB``; before the bounded
pool every such connection pinned its own ~88 MB decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from tests.conftest import chunks, load_speech
from tests.server.process import served_process
from tests.server.wire import new_task_id, start, transcribe
from tests.timing import scaled
from websockets.asyncio.client import ClientConnection, connect

from funasr_realtime.server.engines.pocketsphinx import DEFAULT_MAX_DECODERS, DEFAULT_MAX_IDLE

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

#: Most a decoder (general LM) grows RSS, search state of a long sentence included (measured 61 + 13).
DECODER_MB = 75.0
#: Most one open task adds besides decoders: VAD (~3.2 MB), kept PCM, codec, socket buffers.
TASK_MB = 8.0
#: What RSS may stay above the idle level once every connection has closed.
RETURN_MARGIN_MB = (DEFAULT_MAX_IDLE - 1) * DECODER_MB + 40.0
CONNECTIONS = 24


@dataclass
class ServerProcess:
    """A ``funasr-realtime serve`` child process: its URL and /proc figures."""

    process: subprocess.Popen[str]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def cpu_s(self) -> float:
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def settle(self, timeout: float, quiet_s: float = 0.6) -> None:
        """Wait until the server has used (almost) no CPU for ``quiet_s``: its backlog is decoded."""
        async with asyncio.timeout(timeout):
            while True:
                before = self.cpu_s()
                await asyncio.sleep(quiet_s)
                if self.cpu_s() - before < 0.05 * quiet_s:
                    return

    async def rss_falls_to(self, limit_mb: float, timeout: float) -> float:
        """Poll RSS until it is at most ``limit_mb`` or ``timeout`` passes; the last reading."""
        deadline = time.monotonic() + timeout
        rss = self.rss_mb()
        while rss > limit_mb and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            rss = self.rss_mb()
        return rss


@contextlib.contextmanager
def server_process(*args: str, timeout: float = 60.0) -> Iterator[ServerProcess]:
    """Start ``funasr-realtime serve ARGS`` (default engine unless told); stop it afterwards."""
    with served_process(*args, timeout=timeout) as (process, url):
        yield ServerProcess(process, url)


@contextlib.asynccontextmanager
async def mid_sentence(url: str, count: int, seconds: float = 1.5) -> AsyncIterator[list[ClientConnection]]:
    """``count`` connections, each with a task whose first ``seconds`` of speech were sent at full speed."""
    pcm = load_speech("s1").pcm[: int(seconds * 32000)]
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(url, max_size=None)) for _ in range(count)]
        for ws in sockets:
            await start(ws, new_task_id())
        for ws in sockets:
            for frame in chunks(pcm):
                await ws.send(frame)
        yield sockets


async def _warm_up(server: ServerProcess) -> None:
    """One whole task, so the idle level includes what any first task loads (VAD, threads)."""
    async with connect(server.url) as ws:
        _, events = await transcribe(ws, chunks(load_speech("s1").pcm))
    assert events[-1]["header"]["event"] == "task-finished"


async def test_connections_left_mid_sentence_cost_bounded_memory_and_give_it_back() -> None:
    with server_process() as server:
        await _warm_up(server)
        await server.settle(scaled(30))
        idle = server.rss_mb()
        async with mid_sentence(server.url, CONNECTIONS) as sockets:
            await server.settle(scaled(60))
            held = server.rss_mb()
            for ws in sockets:  # all still mid-task: nothing was refused or failed
                assert ws.close_code is None
        ceiling = idle + (DEFAULT_MAX_DECODERS - 1) * DECODER_MB + CONNECTIONS * TASK_MB
        per_connection = (held - idle) / CONNECTIONS
        assert held <= ceiling, f"{CONNECTIONS} connections mid-sentence: RSS {idle:.0f} -> {held:.0f} MB"
        assert per_connection < 88 / 2, f"{per_connection:.1f} MB per connection"
        after = await server.rss_falls_to(idle + RETURN_MARGIN_MB, scaled(20))
        assert after <= idle + RETURN_MARGIN_MB, f"RSS stayed at {after:.0f} MB after close (idle {idle:.0f} MB)"
        # Still serving, from its warm decoders.
        await _warm_up(server)
