"""The local server: the DashScope real-time ASR protocol from the other side.

:class:`LocalServer` listens on ``ws://HOST:PORT/api-ws/v1/inference`` (trailing slash
accepted) with the ``websockets`` asyncio server. Each connection is driven by
:class:`ConnectionHandler` over the sans-I/O :class:`~funasr_realtime.protocol.ServerProtocol`.
Recognition is CPU-bound, so it runs in a thread pool and never blocks the event loop
(pings, other sessions and timers stay responsive).

It is faithful enough that the official ``dashscope`` SDK works against it with only its
base URL changed: Bearer auth (HTTP 401 on a bad key), task lifecycle and connection reuse,
task-failed with the service's codes, heartbeats, usage on finals, the 23 s client timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .._redact import redacted_logger
from ..protocol import ContinueTask, FinishTask, RemoteProtocolError, RunTask, ServerProtocol, ServerState
from .config import INFERENCE_PATH, ServerConfig
from .engines import Engine, create_engine
from .task import TaskRejected, TaskResult, TaskSession

__all__ = ["ConnectionHandler", "LocalServer"]

logger = logging.getLogger(__name__)

#: websockets logs request headers at DEBUG; clients send their key in one of them.
_WIRE_LOGGER = redacted_logger("funasr_realtime.server.wire")
_INFERENCE_PATHS = frozenset({INFERENCE_PATH, INFERENCE_PATH + "/"})


class LocalServer:
    """A running local server. Use as ``async with LocalServer(config) as server: server.url``."""

    def __init__(self, config: ServerConfig | None = None, *, engine: Engine | None = None) -> None:
        self.config = config or ServerConfig()
        self._engine = engine
        self._server: Server | None = None
        self._executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="funasr-engine")
        self._connections = 0

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.config.engine, grammar=self.config.grammar)
        return self._engine

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/api-ws/v1/inference`` of the listening socket."""
        if self._server is None:
            raise RuntimeError("server is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{port}{INFERENCE_PATH}"

    async def start(self) -> None:
        """Load the engine and start listening. Returns once the socket is bound."""
        _ = self.engine
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._check_request,
            compression=None,
            max_size=self.config.max_message_bytes,
            open_timeout=self.config.handshake_timeout,
            ping_interval=20.0,
            ping_timeout=20.0,
            close_timeout=2.0,
            logger=_WIRE_LOGGER,
        )

    async def stop(self) -> None:
        """Stop listening, close every connection (code 1001) and release the engine threads."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Reject wrong paths (404), bad credentials (401) and overload (503) at the handshake."""
        path = request.path.split("?", 1)[0]
        if path not in _INFERENCE_PATHS:
            return _reject(connection, http.HTTPStatus.NOT_FOUND, "Not found!")
        if not self._authorized(request.headers):
            return _reject(connection, http.HTTPStatus.UNAUTHORIZED, "Invalid API-key provided.")
        if self._connections >= self.config.max_connections:
            return _reject(connection, http.HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections.")
        return None

    def _authorized(self, headers: Headers) -> bool:
        if self.config.api_key is None:
            return True
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        expected = self.config.api_key.get_secret_value()
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections += 1
        try:
            await ConnectionHandler(ws, self.engine, self.config, self._executor).run()
        finally:
            self._connections -= 1


def _reject(connection: ServerConnection, status: http.HTTPStatus, message: str) -> Response:
    return connection.respond(status, message + "\n")


class ConnectionHandler:
    """Serves the tasks of one connection, one after another."""

    def __init__(
        self, ws: ServerConnection, engine: Engine, config: ServerConfig, executor: ThreadPoolExecutor
    ) -> None:
        self._ws = ws
        self._engine = engine
        self._config = config
        self._executor = executor
        self._protocol = ServerProtocol()
        self._session: TaskSession | None = None

    async def run(self) -> None:
        try:
            while self._protocol.state is not ServerState.FAILED:
                message = await self._next_message()
                if message is None:
                    return
                await self._handle(message)
        except ConnectionClosed:
            logger.debug("client closed the connection in state %s", self._protocol.state.value)
        finally:
            self._end_session()

    async def _next_message(self) -> str | bytes | None:
        """The next frame, or None when a timer fired (the handler already answered it)."""
        running = self._protocol.state is ServerState.RUNNING
        timeout = self._config.client_timeout if running else self._config.idle_timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._ws.recv()
        except TimeoutError:
            if running:
                await self._fail("CLIENT_ERROR", f"request timeout after {timeout:g} seconds.")
            else:
                await self._ws.close(1000, "idle timeout")
            return None

    async def _handle(self, frame: str | bytes) -> None:
        try:
            if isinstance(frame, bytes):
                self._protocol.receive_bytes(frame)
                await self._on_audio(frame)
                return
            message = self._protocol.receive_text(frame)
            if isinstance(message, RunTask):
                await self._on_run_task(message)
            elif isinstance(message, FinishTask):
                await self._on_finish_task()
            elif isinstance(message, ContinueTask):
                logger.debug("continue-task accepted (context is not used by the local engines)")
        except RemoteProtocolError as exc:
            await self._fail("InvalidParameter", str(exc))
        except TaskRejected as exc:
            await self._fail(exc.code, exc.message)
        except ConnectionClosed:
            raise  # the client is gone: nothing to answer
        except Exception:
            # The service answers its own faults with task-failed InternalError; the client
            # gets no internal details, the log gets the traceback.
            logger.exception("internal error in task %s", self._protocol.task_id or "-")
            await self._fail("InternalError", "Internal server error.")

    async def _on_run_task(self, message: RunTask) -> None:
        self._session = TaskSession.create(
            message.model,
            message.parameters,
            self._engine,
            heartbeat_interval_ms=self._config.heartbeat_interval_ms,
            max_audio_s=self._config.max_task_audio_s,
        )
        await self._ws.send(self._protocol.start_task())

    async def _on_audio(self, data: bytes) -> None:
        assert self._session is not None
        results = await self._run_off_loop(self._session.feed, data)
        await self._send_results(results)

    async def _on_finish_task(self) -> None:
        assert self._session is not None
        results = await self._run_off_loop(self._session.finish)
        await self._send_results(results)
        await self._ws.send(self._protocol.finish_task())
        self._end_session()

    async def _send_results(self, results: list[TaskResult]) -> None:
        for result in results:
            await self._ws.send(self._protocol.send_result(result.sentence, result.usage))

    async def _run_off_loop(self, func: Callable[..., list[TaskResult]], *args: bytes) -> list[TaskResult]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def _fail(self, code: str, message: str) -> None:
        """Send task-failed and close, as the service does."""
        logger.info("task %s failed: %s: %s", self._protocol.task_id or "-", code, message)
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(self._protocol.fail_task(code, message))
            await self._ws.close(1000, "task failed")
        self._end_session()

    def _end_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
