"""``serve --workers N``: N server processes on one port, started and supervised by one parent.

pocketsphinx holds the GIL, so one server process uses about one core. :class:`WorkerPool`
binds the port and starts N worker processes (:mod:`._worker`), each with its own engine.
The parent accepts every connection and hands it (its descriptor, over a Unix socket pair)
to the worker with the fewest open connections, the least recently chosen among equals;
each worker says when one of its connections closes. So a burst of sessions is spread
evenly, which neither a shared listening socket (whichever worker wakes first accepts the
whole burst: measured, 4 of 4) nor SO_REUSEPORT (a hash of the client's address, blind to
load) does; and a connection never waits in the queue of a worker that died. With port 0
the parent picks the port; a restarted worker serves the same port, since it never binds it.

Supervision: a worker that exits while the pool runs is restarted (at once when it had
served for a while, after a delay that doubles up to 30 s when it dies again right after
starting); meanwhile the others take its share, and with no worker up, accepted
connections wait for the first one back. Connections a worker held die with it.
:meth:`WorkerPool.stop` sends SIGTERM to every worker and SIGKILL to those still running
``stop_timeout`` later. A worker also stops when its stdin ends, so workers never outlive a
parent that was killed.

Metrics: the workers run in prometheus-client's multiprocess mode over a private folder of
the pool, so ``GET /metrics`` on the port sums every worker (see :mod:`.metrics`); a worker
that exits is marked dead there. ``GET /health`` answers for the worker the request reached
(its ``pid`` and ``worker`` index). POSIX only (descriptors travel as ``SCM_RIGHTS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

from prometheus_client.multiprocess import mark_process_dead

from ..protocol import ConfigurationError
from ._worker import CLOSED, WorkerOrder, encode_order
from .config import INFERENCE_PATH, ServerConfig
from .ops import WorkerSlot

__all__ = ["WorkerPool"]

logger = logging.getLogger(__name__)

#: A worker that dies within this long of starting is restarted with a growing delay.
_QUICK_DEATH_S = 10.0
_MAX_RESTART_DELAY_S = 30.0
_LISTEN_BACKLOG = 1024


@dataclass(slots=True)
class _Worker:
    slot: WorkerSlot
    process: asyncio.subprocess.Process
    channel: socket.socket  # the parent's end of the pair connections travel on
    ready_at: float | None = None  # None while it starts
    open: int = 0  # connections handed over and not closed yet
    chosen: int = 0  # when it was last handed one (a dispatch counter)


class WorkerPool:
    """``workers`` server processes on one port (see the module docstring).

    ``async with WorkerPool(config, 2) as pool: pool.url``: returns once every worker serves;
    raises :class:`ConfigurationError` (after stopping the others) if one cannot start.
    """

    def __init__(
        self, config: ServerConfig, workers: int, *, start_timeout: float = 60.0, stop_timeout: float = 10.0
    ) -> None:
        if workers < 1:
            raise ConfigurationError("--workers must be at least 1")
        if not hasattr(socket, "send_fds"):
            raise ConfigurationError("--workers needs a POSIX system (Linux, macOS)")
        self.config = config
        self.workers = workers
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.restarts = 0
        self._socket: socket.socket | None = None
        self._folder: str | None = None  # private: the workers' listeners and the metrics files
        self._running: dict[int, _Worker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()  # some worker can take a connection
        self._dispatched = 0

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/api-ws/v1/inference`` of the pool's port."""
        if self._socket is None:
            raise RuntimeError("the pool is not started")
        host, port = self._socket.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{port}{INFERENCE_PATH}"

    @property
    def pids(self) -> dict[int, int]:
        """The process id of each serving worker, by index (a worker being restarted is absent)."""
        return {index: worker.process.pid for index, worker in self._running.items() if worker.ready_at is not None}

    @property
    def open_connections(self) -> dict[int, int]:
        """Connections handed to each serving worker and not closed yet, by index."""
        return {index: worker.open for index, worker in self._running.items() if worker.ready_at is not None}

    async def start(self) -> None:
        self._socket = _listen(self.config.host, self.config.port, self.config.socket_buffer_bytes)
        self._folder = tempfile.mkdtemp(prefix="funasr-workers-")
        os.mkdir(self._metrics_dir)
        started = await asyncio.gather(*(self._spawn(i) for i in range(self.workers)), return_exceptions=True)
        failure = next((r for r in started if isinstance(r, BaseException)), None)
        if failure is not None:
            await self.stop()
            raise failure
        self._tasks += [asyncio.create_task(self._supervise(i), name=f"worker-{i}") for i in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._accept(), name="worker-dispatch"))

    async def stop(self) -> None:
        """SIGTERM every worker, SIGKILL what still runs after ``stop_timeout``; release the port."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()
        workers = list(self._running.values())
        self._running.clear()
        for worker in workers:
            _signal(worker.process, signal.SIGTERM)
        await asyncio.gather(*(self._reap(worker) for worker in workers))
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def _metrics_dir(self) -> str:
        assert self._folder is not None
        return os.path.join(self._folder, "metrics")

    # ------------------------------------------------------------------ dispatch

    async def _accept(self) -> None:
        """Accept every connection on the port and hand it to the least busy worker."""
        assert self._socket is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self._socket)
            except OSError as exc:  # a client that left at once, or out of descriptors: keep accepting
                logger.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            with conn:
                while not self._hand_over(conn):
                    self._ready.clear()
                    await self._ready.wait()  # every worker is restarting: wait for one

    def _hand_over(self, conn: socket.socket) -> bool:
        """Pass ``conn`` to the worker with the fewest open connections; False if none took it."""
        candidates = [w for w in self._running.values() if w.ready_at is not None]
        for worker in sorted(candidates, key=lambda w: (w.open, w.chosen)):
            try:
                socket.send_fds(worker.channel, [b"c"], [conn.fileno()])
            except OSError:  # the worker died (or its channel is full): the next one
                continue
            worker.open += 1
            self._dispatched += 1
            worker.chosen = self._dispatched
            return True
        return False

    async def _count_closes(self, worker: _Worker) -> None:
        """Read the worker's ``-`` bytes, one per connection of its that closed."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            while data := await loop.sock_recv(worker.channel, 4096):
                worker.open -= data.count(CLOSED)

    # ------------------------------------------------------------------ processes

    async def _spawn(self, index: int, *, restart: bool = False) -> None:
        """Start worker ``index`` and wait (bounded) for its status line."""
        assert self._folder is not None
        slot = WorkerSlot(index, self.workers)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        listen_path = os.path.join(self._folder, f"worker-{index}.sock")
        order = encode_order(WorkerOrder(self.config, theirs.fileno(), slot, listen_path))
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "funasr_realtime.server._worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": self._metrics_dir},
            )
        finally:
            theirs.close()
        assert process.stdin is not None and process.stdout is not None
        worker = _Worker(slot, process, ours)
        # Registered before it is ready, so stop() reaches a worker that is still starting.
        self._running[index] = worker
        try:
            process.stdin.write(order)
            await process.stdin.drain()
            async with asyncio.timeout(self.start_timeout):
                status = (await process.stdout.readline()).decode(errors="replace").strip()
        except (TimeoutError, OSError):
            status = "error it did not report ready in time" if process.returncode is None else ""
        if status != "ready":
            self._running.pop(index, None)
            code = await self._end(worker, timeout=2.0)
            reason = status.removeprefix("error ") or f"it exited with code {code}"
            raise ConfigurationError(f"worker {index} could not start: {reason}")
        self.restarts += restart
        worker.ready_at = time.monotonic()
        self._tasks.append(asyncio.create_task(self._count_closes(worker), name=f"worker-{index}-closes"))
        self._ready.set()

    async def _supervise(self, index: int) -> None:
        """Restart worker ``index`` whenever it exits, until the pool stops."""
        quick_deaths = 0
        while True:
            worker = self._running[index]
            code = await worker.process.wait()
            self._running.pop(index, None)
            worker.channel.close()
            self._forget(worker.process.pid)
            lived = time.monotonic() - (worker.ready_at or 0.0)
            quick_deaths = quick_deaths + 1 if lived < _QUICK_DEATH_S else 0
            delay = min(_MAX_RESTART_DELAY_S, 0.25 * 2**quick_deaths) if quick_deaths else 0.0
            logger.warning("worker %d (pid %d) exited with code %s; restarting", index, worker.process.pid, code)
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._spawn(index, restart=True)
                    break
                except ConfigurationError as exc:
                    logger.error("%s", exc)
                    delay = min(_MAX_RESTART_DELAY_S, max(1.0, delay * 2))

    async def _reap(self, worker: _Worker) -> None:
        await self._end(worker, timeout=self.stop_timeout)
        self._forget(worker.process.pid)

    @staticmethod
    async def _end(worker: _Worker, *, timeout: float) -> int:
        """Wait ``timeout`` for the worker to exit, SIGKILL it after; its exit code."""
        process = worker.process
        try:
            async with asyncio.timeout(timeout):
                code = await process.wait()
        except TimeoutError:
            logger.warning("worker pid %d did not stop in %g s; killing it", process.pid, timeout)
            _signal(process, signal.SIGKILL)
            code = await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        worker.channel.close()
        return code

    def _forget(self, pid: int) -> None:
        """Remove a dead worker's live gauges from the summed metrics."""
        if self._folder is not None:
            with contextlib.suppress(OSError):
                mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call]


def _listen(host: str, port: int, buffer_bytes: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (its first address); accepted connections
    inherit its kernel buffer sizes (``ServerConfig.socket_buffer_bytes``)."""
    family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.create_server(address[:2], family=family, backlog=_LISTEN_BACKLOG)
    sock.setblocking(False)
    with contextlib.suppress(OSError):  # best effort, as the single-process server does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
    return sock


def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
