"""Connections for one stream: reuse after task-finished, and an optional pre-warmed standby.

The protocol allows one task at a time per connection. A stream that rotates tasks
(finalize) would otherwise wait for the old task to drain, or pay a handshake, before the
next task can start. The pool keeps at most ``max_size`` connections: it hands out an idle
live one if it has it, opens a new one if below the limit, and otherwise waits for a
release. With ``standby`` it opens a spare in the background after every acquire.
Every run-task of a stream (and of compat's live sessions) is sent by
:meth:`ConnectionPool.start_task`, after a token of the account's task quota (:mod:`.limiter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..protocol import ErrorKind, FunAsrError, RecognitionParams, classify
from .config import ClientConfig, Resilience
from .connection import Clock, Connection, Listener, Task
from .limiter import task_limiter

__all__ = ["ConnectionPool"]

logger = logging.getLogger(__name__)


class ConnectionPool:
    """Idle and busy connections of one stream."""

    def __init__(
        self,
        config: ClientConfig,
        clock: Clock,
        *,
        standby: bool,
        max_size: int = 2,
        resilience: Resilience | None = None,
    ) -> None:
        self._config = config
        # The account's task quota (client/limiter.py), from resilience's task_rate and
        # task_burst (None: the defaults); None: no limit on this endpoint.
        self.limiter = task_limiter(config, resilience or Resilience())
        self._clock = clock
        self._standby = standby
        self._max_size = max_size
        self._idle: list[Connection] = []
        self._busy: set[Connection] = set()
        self._opening = 0
        self._changed = asyncio.Condition()
        self._warming: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def connections(self) -> list[Connection]:
        """Open connections, busy ones first."""
        return [c for c in (*self._busy, *self._idle) if c.alive]

    async def acquire(self) -> tuple[Connection, float]:
        """A connection with no task on it, and how long getting it took (ms)."""
        started = self._clock()
        connection: Connection | None
        async with self._changed:
            while True:
                self._idle = [c for c in self._idle if c.reusable]
                if self._idle:
                    connection = self._idle.pop()
                    self._busy.add(connection)
                    break
                if self._size() < self._max_size:
                    self._opening += 1
                    connection = None
                    break
                await self._changed.wait()
        if connection is None:
            connection = await self._open()
            self._busy.add(connection)
        self._warm_standby()
        return connection, (self._clock() - started) * 1000

    async def start_task(
        self, params: RecognitionParams, *, offset_ms: int = 0, listener: Listener | None = None
    ) -> tuple[Task, float]:
        """Acquire a connection and start a task on it: the task, and how long acquiring took (ms).

        A connection whose task did not start is released. A run-task refused with a
        rejected provider key gets its second chance here (see :meth:`_key_rejected`): the
        idle connections, opened with that key, are closed and the task is tried once more
        on a new connection.
        """
        return await self._start_task(params, offset_ms, listener, second_chance=True)

    async def _start_task(
        self, params: RecognitionParams, offset_ms: int, listener: Listener | None, *, second_chance: bool = False
    ) -> tuple[Task, float]:
        connection, acquire_ms = await self.acquire()  # a rejected connect had its chance in _open
        try:
            if self.limiter is not None:
                # Every run-task waits for its token of the account's task quota; the audio
                # waits in the replay buffer meanwhile (client/limiter.py).
                await self.limiter.take(params.model)
            task = await connection.start_task(params, offset_ms=offset_ms, listener=listener)
        except FunAsrError as exc:
            await self.release(connection)
            if not (second_chance and self._key_rejected(exc)):
                raise
            await self.discard_idle()
            return await self._start_task(params, offset_ms, listener)
        except BaseException:
            await self.release(connection)
            raise
        task.metrics.acquire_ms = acquire_ms
        return task, acquire_ms

    def _key_rejected(self, error: FunAsrError) -> bool:
        """Whether ``error`` is a provider's key the service rejected, worth asking once more.

        The one rule for keys that expire. With a key provider, a rejected key (a handshake
        401 or a task-failed ``InvalidApiKey``: :attr:`ErrorKind.AUTHENTICATION`) may just
        have expired, so the connect (:meth:`_open`) or the run-task (:meth:`start_task`) is
        tried once more, and the provider is asked again for the new connection. A second
        rejection is raised, and is permanent; so is the first with a fixed key.
        """
        if self._config.key_provider is None or classify(error) is not ErrorKind.AUTHENTICATION:
            return False
        logger.info("the API key was rejected (%s): asking the key provider once more", error)
        return True

    async def release(self, connection: Connection) -> None:
        """Give a connection back; it is kept only if another task can run on it."""
        async with self._changed:
            self._busy.discard(connection)
            # Both the returning connection and the standby are warm: keep them (the pool's
            # size already counts the returning one), so the next rotations need no handshake.
            keep = connection.reusable and not self._closed
            if keep:
                self._idle.append(connection)
            self._changed.notify_all()
        if not keep:
            await connection.aclose()

    def allows_rotation(self, model: str) -> bool:
        """Whether a finalize may end the task now: the task quota (if any) is not under pressure."""
        return self.limiter is None or self.limiter.allows_rotation(model)

    async def prewarm(self) -> None:
        """Make sure one idle connection is open (raises the connect error, if any)."""
        async with self._changed:
            self._idle = [c for c in self._idle if c.reusable]
            if self._idle or self._size() >= self._max_size or self._closed:
                return
            self._opening += 1
        connection = await self._open()
        try:
            async with self._changed:
                if not self._closed:
                    self._idle.append(connection)
                    self._changed.notify_all()
                    return
        except BaseException:
            await _close_quietly(connection)  # cancelled just after connecting: no leaked socket
            raise
        await _close_quietly(connection)  # the pool closed while it was connecting

    async def discard_idle(self) -> None:
        """Close the idle connections: after a failure they likely share the broken path."""
        async with self._changed:
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for connection in idle:
            await _close_quietly(connection)

    async def aclose(self) -> None:
        """Close every connection; returns once the standby task and the sockets are done.

        The closing runs in one task that every call awaits (shielded), so a caller that is
        cancelled half-way cannot leave connections open for a later call to miss.
        """
        self._closed = True
        if self._closing is None:
            self._closing = asyncio.create_task(self._close_all(), name="funasr-realtime-pool-close")
        await asyncio.shield(self._closing)

    async def _close_all(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._warming
        while self._idle or self._busy:
            connections = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
            for connection in connections:
                await _close_quietly(connection)

    def _size(self) -> int:
        self._busy = {c for c in self._busy if c.alive}
        return len(self._idle) + len(self._busy) + self._opening

    async def _open(self) -> Connection:
        """Open a connection that the caller counted in ``_opening``."""
        try:
            try:
                return await Connection.open(self._config, clock=self._clock)
            except FunAsrError as exc:
                if not self._key_rejected(exc):
                    raise
                return await Connection.open(self._config, clock=self._clock)
        finally:
            async with self._changed:
                self._opening -= 1
                self._changed.notify_all()

    def _warm_standby(self) -> None:
        if not self._standby or self._closed or (self._warming is not None and not self._warming.done()):
            return
        self._warming = asyncio.create_task(self._warm(), name="funasr-realtime-standby")

    async def _warm(self) -> None:
        try:
            await self.prewarm()
        except FunAsrError as exc:
            # A standby is an optimization: the next acquire opens (and reports) on demand.
            logger.debug("standby connection not opened: %s", exc)


async def _close_quietly(connection: Connection) -> None:
    with contextlib.suppress(FunAsrError):
        await connection.aclose()
