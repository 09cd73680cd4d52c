"""One worker of ``serve --workers N``: a :class:`~.app.LocalServer` fed connections by its parent.

The supervisor (:mod:`.workers`) accepts every connection on the public port and hands each
to a worker over a Unix socket pair (the connection's descriptor travels as ``SCM_RIGHTS``,
with one byte). The worker serves it as its own (:meth:`.LocalServer.adopt`) and writes one
byte ``-`` back on the pair when it closes, so the supervisor knows every worker's load.

The supervisor starts ``python -m funasr_realtime.server._worker`` with its end of the pair
inherited (``pass_fds``) and writes a :class:`WorkerOrder` on its stdin: a 4-byte big-endian
length and the pickled order (parent to its own child: no one else writes there). The worker
answers on its stdout, one line, then closes it: ``ready`` once it serves, or
``error MESSAGE`` and exit code 1 when its server cannot start. Its file descriptor 1 then
points at stderr, so nothing an engine prints can be taken for that line.

It stops, closing its connections, on SIGTERM or when its stdin ends: the supervisor keeps
the other end open, so a supervisor that dies, even by SIGKILL, takes its workers with it.
SIGINT is ignored: Ctrl-C in a terminal reaches the whole process group, and the
supervisor, not each worker, decides what follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from ..protocol import FunAsrError
from .app import LocalServer
from .config import ServerConfig
from .ops import WorkerSlot

__all__ = ["CLOSED", "WorkerOrder", "encode_order", "main", "read_order", "run_worker", "serve_worker"]

#: What a worker writes back on its pair when one of its connections closes.
CLOSED = b"-"
_LENGTH = struct.Struct(">I")
_MAX_FDS = 64


@dataclass(frozen=True, slots=True)
class WorkerOrder:
    """What a worker serves: ``config``, as ``slot``, for the connections handed over on the
    inherited socket ``channel``; ``listen_path``: the private Unix socket its server binds."""

    config: ServerConfig
    channel: int
    slot: WorkerSlot
    listen_path: str


def encode_order(order: WorkerOrder) -> bytes:
    data = pickle.dumps(order)
    return _LENGTH.pack(len(data)) + data


def read_order(stream: BinaryIO) -> WorkerOrder:
    """The order :func:`encode_order` wrote on ``stream``; raises ``EOFError`` if it is cut short."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("no worker order on stdin")
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker order cut short")
    order = pickle.loads(data)  # noqa: S301 -- written by this worker's own parent, on a private pipe
    if not isinstance(order, WorkerOrder):
        raise TypeError(f"not a worker order: {type(order).__name__}")
    return order


async def serve_worker(order: WorkerOrder, report: Callable[[str], None], stop: asyncio.Event) -> int:
    """Serve the connections handed over on ``order.channel`` until ``stop`` is set (or the
    channel ends); returns the exit code. ``report`` gets the one status line (``ready``,
    or ``error MESSAGE`` and the code is 1)."""
    channel = socket.socket(fileno=order.channel)
    channel.setblocking(False)
    server = LocalServer(order.config, worker=order.slot)
    private = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _remove(order.listen_path)  # a dead predecessor's
        private.bind(order.listen_path)  # websockets needs a listener; no one connects to this one
        await server.start(sock=private)
    except (FunAsrError, ValueError, OSError) as exc:
        private.close()
        channel.close()
        report("error " + " ".join(str(exc).split()))
        return 1
    report("ready")
    receiver = asyncio.create_task(_receive(server, channel, stop))
    try:
        await stop.wait()
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        await server.stop()
        channel.close()
        _remove(order.listen_path)
    return 0


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def _receive(server: LocalServer, channel: socket.socket, stop: asyncio.Event) -> None:
    """Adopt every connection the supervisor hands over; say ``-`` on the channel as each closes."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(channel.fileno(), readable.set)
    watchers: set[asyncio.Task[None]] = set()
    try:
        while True:
            await readable.wait()
            readable.clear()
            try:
                data, fds, _, _ = socket.recv_fds(channel, 256, _MAX_FDS)
            except BlockingIOError:
                continue
            if not data:  # the supervisor is gone
                stop.set()
                return
            for fd in fds:
                watcher = loop.create_task(_serve_one(server, socket.socket(fileno=fd), channel))
                watchers.add(watcher)
                watcher.add_done_callback(watchers.discard)
    finally:
        loop.remove_reader(channel.fileno())
        for watcher in watchers:
            watcher.cancel()


async def _serve_one(server: LocalServer, conn: socket.socket, channel: socket.socket) -> None:
    try:
        try:
            connection = await server.adopt(conn)
        except OSError:
            conn.close()  # the client left before it could be served
        else:
            await connection.wait_closed()
    finally:
        with contextlib.suppress(OSError):  # a full or closed channel: the supervisor recounts on restart
            channel.send(CLOSED)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # from here on, fd 1 (what C code writes to) is stderr

    def report(line: str) -> None:
        status.write(line + "\n")
        status.close()

    order = read_order(sys.stdin.buffer)
    return asyncio.run(run_worker(order, report))


async def run_worker(order: WorkerOrder, report: Callable[[str], None], stdin: int = 0) -> int:
    """:func:`serve_worker` until SIGTERM or the end of the ``stdin`` descriptor."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def stdin_readable() -> None:
        with contextlib.suppress(OSError):
            if os.read(stdin, 4096):
                return  # the supervisor writes nothing more; ignore it if it does
        stop.set()  # end of stdin: the supervisor is gone

    loop.add_reader(stdin, stdin_readable)
    try:
        return await serve_worker(order, report, stop)
    finally:
        loop.remove_reader(stdin)
        loop.remove_signal_handler(signal.SIGTERM)


if __name__ == "__main__":
    # Run the module's importable copy: the order unpickles as funasr_realtime.server._worker's
    # WorkerOrder, a different class from this __main__'s.
    from funasr_realtime.server._worker import main as worker_main

    sys.exit(worker_main())
