"""A scripted server speaking the DashScope protocol, for load and latency benchmarks only.

    python -m bench.stub_server [--partial-every K] [--final-every M] [--port 0]

It prints ``listening on ws://127.0.0.1:PORT/api-ws/v1/inference`` like ``funasr-realtime
serve``. It recognizes nothing: it answers run-task, sends a partial result every ``K`` audio
messages and a final every ``M`` (0: only at finish-task), then task-finished. Frames are
encoded by the library's own sans-I/O :class:`~funasr_realtime.protocol.ServerProtocol`, so
both our client and the official SDK accept them.

Why not the synthetic engine of the local server? That engine still runs Silero VAD on every
32 ms of audio and hands each frame to a thread pool; at 1000 real-time streams that alone
needs more than the one core the server gets (measured in the concurrency benchmark), and
the client would be measured against a saturated server. This stub costs a few tens of
microseconds per message.

Instrumentation (the point of it):

* audio frames carry a stamp (``bench.common.stamped_frame``: their scheduled send time);
  the server records ``arrival - scheduled`` for every stamp it reads: the *delivery lag*
  of the client under test, comparable between clients whatever their internals;
* every result's text is ``bench <in_ns> <out_ns>``: the stamp of the audio that triggered
  it and the server's clock just before the frame was written, so a client can compute
  audio in → result out and server send → event delivered;
* ``GET /stats`` (``?reset=1`` to clear) returns the counters as JSON.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import http
import json
import math
import signal
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from funasr_realtime.protocol import FinishTask, RemoteProtocolError, RunTask, Sentence, ServerProtocol, Usage, Word

from .common import pin, raise_fd_limit, read_stamps

PATH = "/api-ws/v1/inference"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lags_ns = array.array("q")
        self.frames = 0
        self.results = 0
        self.tasks = 0
        self.failed = 0
        self.connections = 0
        self.peak_connections = 0

    def as_dict(self, raw: bool) -> dict[str, Any]:
        lags = sorted(self.lags_ns)

        def pct(q: float) -> float:
            return lags[min(len(lags) - 1, math.ceil(len(lags) * q / 100) - 1)] / 1e6 if lags else math.nan

        out: dict[str, Any] = {
            "frames": self.frames,
            "results": self.results,
            "tasks": self.tasks,
            "failed": self.failed,
            "connections": self.connections,
            "peak_connections": self.peak_connections,
            "lag_count": len(lags),
            "lag_p50_ms": pct(50),
            "lag_p99_ms": pct(99),
            "lag_max_ms": lags[-1] / 1e6 if lags else math.nan,
        }
        if raw:
            out["lags_ms"] = [lag / 1e6 for lag in self.lags_ns]
        return out


class StubServer:
    def __init__(self, partial_every: int, final_every: int) -> None:
        self.partial_every = partial_every
        self.final_every = final_every
        self.stats = Stats()

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == "/stats":
            body = json.dumps(self.stats.as_dict(raw="raw=1" in query))
            if "reset=1" in query:
                self.stats.reset()
            return connection.respond(http.HTTPStatus.OK, body)
        if path.rstrip("/") != PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found!\n")
        return None

    async def handle(self, ws: ServerConnection) -> None:
        stats = self.stats
        stats.connections += 1
        stats.peak_connections = max(stats.peak_connections, stats.connections)
        protocol = ServerProtocol()
        messages = audio_bytes = sentence = 0
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    arrived = time.monotonic_ns()
                    protocol.receive_bytes(message)
                    stamps = read_stamps(message)
                    for stamp in stamps:
                        stats.lags_ns.append(arrived - stamp)
                    stats.frames += 1
                    messages += 1
                    audio_bytes += len(message)
                    audio_in = stamps[0] if stamps else 0
                    if self.final_every and messages % self.final_every == 0:
                        await self._result(ws, protocol, audio_in, audio_bytes, sentence, final=True)
                        sentence += 1
                    elif self.partial_every and messages % self.partial_every == 0:
                        await self._result(ws, protocol, audio_in, audio_bytes, sentence, final=False)
                    continue
                request = protocol.receive_text(message)
                if isinstance(request, RunTask):
                    messages = audio_bytes = sentence = 0
                    stats.tasks += 1
                    await ws.send(protocol.start_task())
                elif isinstance(request, FinishTask):
                    if audio_bytes:
                        await self._result(ws, protocol, 0, audio_bytes, sentence, final=True)
                    await ws.send(protocol.finish_task(Usage(duration=math.ceil(audio_bytes / 32000))))
        except RemoteProtocolError as exc:
            stats.failed += 1
            with contextlib.suppress(ConnectionClosed):
                await ws.send(protocol.fail_task("InvalidParameter", str(exc)))
                await ws.close(1000, "task failed")
        except ConnectionClosed:
            pass
        finally:
            stats.connections -= 1

    async def _result(
        self,
        ws: ServerConnection,
        protocol: ServerProtocol,
        audio_in: int,
        audio_bytes: int,
        index: int,
        *,
        final: bool,
    ) -> None:
        self.stats.results += 1
        end_ms = audio_bytes // 32
        # Like a real server, each result says how far it has recognized (its last word's
        # end): a client that paces itself to the server's position relies on it.
        word = Word(begin_time=max(0, end_ms - 100), end_time=end_ms, text="bench", punctuation="")
        sentence = Sentence(
            begin_time=0,
            end_time=end_ms if final else None,
            text=f"bench {audio_in} {time.monotonic_ns()}",
            words=(word,),
            heartbeat=False,
            sentence_end=final,
            sentence_id=index + 1,
        )
        usage = Usage(duration=math.ceil(audio_bytes / 32000)) if final else None
        await ws.send(protocol.send_result(sentence, usage))


async def main(options: argparse.Namespace) -> None:
    stub = StubServer(options.partial_every, options.final_every)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        stub.handle,
        "127.0.0.1",
        options.port,
        process_request=stub.process_request,
        compression=None,
        max_size=1 << 20,
        ping_interval=20.0,
        ping_timeout=20.0,
        close_timeout=1.0,  # clients under test may vanish mid-close: do not wait 10 s for them
        backlog=4096,
    ) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"listening on ws://{host}:{port}{PATH}", flush=True)
        await stop.wait()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stub_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--partial-every", type=int, default=5, help="a partial every K audio messages (0: none)")
    parser.add_argument("--final-every", type=int, default=0, help="a final every M audio messages (0: at finish)")
    parser.add_argument("--cpus", help="pin to these CPUs (comma-separated)")
    options = parser.parse_args()
    pin([int(c) for c in options.cpus.split(",")] if options.cpus else None)
    raise_fd_limit()
    asyncio.run(main(options))


if __name__ == "__main__":
    cli()
