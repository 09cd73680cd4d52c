"""The local server: the DashScope real-time ASR protocol from the other side.

:class:`LocalServer` listens on ``ws://HOST:PORT/api-ws/v1/inference`` (trailing slash
accepted) with the ``websockets`` asyncio server. Each connection is driven by
:class:`~.connection.ConnectionHandler` over the sans-I/O
:class:`~funasr_realtime.protocol.ServerProtocol`: an eager reader with a bounded backlog and
a worker that runs recognition on a thread pool shared fairly between connections
(:mod:`.flow`), so pings, other sessions and timers stay responsive.

It is faithful enough that the official ``dashscope`` SDK works against it with only its
base URL changed: Bearer auth (HTTP 401 on a bad key), task lifecycle and connection reuse,
task-failed with the service's codes, heartbeats, usage on finals, the 23 s client timeout.

Malformed handshakes get a 4xx, never a 500 or a traceback: a wrong path 404, a missing,
repeated or wrong ``Authorization`` 401, a request websockets cannot parse 400 (websockets
itself would only close the socket), a non-GET 405, over-long headers 431. The API key and
every ``Authorization`` value are scrubbed from the server's log records at every level,
including the raw request lines websockets quotes when it cannot parse them.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .._redact import redacted_logger, register_secret
from ._wire import limit_buffers, serving
from .config import INFERENCE_PATH, ServerConfig
from .connection import ConnectionHandler, TaskQuota
from .engines import Engine, create_engine
from .flow import BacklogBudget, FairScheduler
from .http import bearer_token
from .metrics import ServerMetrics, multiprocess_dir
from .ops import WorkerSlot, ops_response
from .rest import API_PATH, RestApi, TokenStore
from .vocabularies import VocabularyStore

__all__ = ["ConnectionHandler", "LocalServer"]

logger = redacted_logger(__name__)

#: websockets logs request headers at DEBUG; clients send their key in one of them.
_WIRE_LOGGER = redacted_logger("funasr_realtime.server.wire")
_INFERENCE_PATHS = frozenset({INFERENCE_PATH, INFERENCE_PATH + "/"})
#: Frames websockets may queue per connection while the reader is paused by backpressure.
_MAX_QUEUE = 4


class LocalServer:
    """A running local server. Use as ``async with LocalServer(config) as server: server.url``.

    ``GET /health`` and ``GET /metrics`` on its port serve operators (:mod:`.ops`,
    :mod:`.metrics`). ``worker``: which worker of ``serve --workers N`` it is (:mod:`.workers`).
    """

    def __init__(
        self, config: ServerConfig | None = None, *, engine: Engine | None = None, worker: WorkerSlot | None = None
    ) -> None:
        self.config = config or ServerConfig()
        self._engine = engine
        self.worker = worker
        self.metrics = ServerMetrics()
        self.metrics.watch(self)
        self.started_at = time.monotonic()
        self.draining = False  # stop() has begun: /health answers 503
        self._handlers: set[ConnectionHandler] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._server: Server | None = None
        threads = os.cpu_count() or 2
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="funasr-engine")
        self._scheduler = FairScheduler(self._executor, threads)
        self._budget = BacklogBudget(self.config.max_backlog_bytes_total)
        self._quota = TaskQuota.of(self.config)  # the account's task quota, shared by every connection
        self.vocabularies = VocabularyStore()
        self.rest = RestApi(self.vocabularies, TokenStore(), self._accepts)
        self._connections = 0
        # Scrubbed from every funasr_realtime/websockets log record while this config lives.
        register_secret(self.config.api_key)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            config = self.config
            max_decoders = config.max_decoders if config.engine == "pocketsphinx" else None
            self._engine = create_engine(
                config.engine,
                grammar=config.grammar,
                max_decoders=max_decoders,
                replay=config.replay,
                model_dir=config.model_dir,
            )
        return self._engine

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/api-ws/v1/inference`` of the listening socket."""
        return f"ws://{self._address()}{INFERENCE_PATH}"

    @property
    def http_url(self) -> str:
        """``http://HOST:PORT/api/v1``: the HTTP API's base (the SDK's ``base_http_api_url``), same port."""
        return f"http://{self._address()}{API_PATH}"

    def _address(self) -> str:
        if self._server is None:
            raise RuntimeError("server is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{port}"

    @property
    def active_connections(self) -> int:
        """WebSocket connections being served right now (handshake completed, not yet closed)."""
        return self._connections

    @property
    def backlog_bytes(self) -> int:
        """Bytes received from all clients and not recognized yet (bounded by ``max_backlog_bytes_total``)."""
        return self._budget.used

    @property
    def backlog_seconds(self) -> float:
        """PCM and WAV audio received from all clients and not recognized yet, in seconds."""
        return sum(handler.backlog_seconds for handler in self._handlers)

    @property
    def running_tasks(self) -> int:
        return sum(handler.running for handler in self._handlers)

    @property
    def engine_name(self) -> str:
        return self.config.engine

    @property
    def full(self) -> bool:
        """At ``max_connections``: a new session would be refused (503)."""
        return self._connections >= self.config.max_connections

    async def start(self, sock: socket.socket | None = None) -> None:
        """Load the engine and start listening. Returns once the socket is bound.

        ``sock``: a listening socket to serve instead of binding ``config.host`` and
        ``config.port`` (a worker of ``serve --workers N`` listens on a private Unix socket
        and is handed its connections, see :meth:`adopt`).
        """
        _ = self.engine
        self._server = await serve(
            self._handle,
            None if sock else self.config.host,
            None if sock else self.config.port,
            sock=sock,
            process_request=self._check_request,
            create_connection=serving(self.rest),
            compression=None,
            max_size=self.config.max_message_bytes,
            max_queue=_MAX_QUEUE,
            open_timeout=self.config.handshake_timeout,
            # No websockets keepalive: its pong timeout misfires on a client whose pong sits
            # behind input this server has not read; ConnectionHandler's timers replace it.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=2.0,
            logger=_WIRE_LOGGER,
        )
        for listener in self._server.sockets:  # accepted sockets inherit the listener's buffers
            limit_buffers(listener, self.config.socket_buffer_bytes)
        if multiprocess_dir() is not None:  # other workers read this one's gauges from their files
            self._refresher = asyncio.create_task(self._refresh_gauges(), name="funasr-metrics")

    async def stop(self) -> None:
        """Stop listening, close every connection (code 1001) and release the engine threads."""
        self.draining = True
        if self._refresher is not None:
            self._refresher.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def adopt(self, conn: socket.socket) -> ServerConnection:
        """Serve ``conn``, a connection accepted by another process (the supervisor of
        ``serve --workers N``), as if this server had accepted it; returns its connection."""
        assert self._server is not None, "start the server first"
        # websockets builds each connection with the factory it gave asyncio's server, which
        # has no public accessor; a connection built otherwise would not be this server's.
        factory = self._server.server._protocol_factory  # type: ignore[attr-defined]
        _, connection = await asyncio.get_running_loop().connect_accepted_socket(factory, conn)
        assert isinstance(connection, ServerConnection)
        return connection

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
        """Reject wrong paths (404), bad credentials (401) and overload (503) at the handshake.

        Never raises: websockets would answer an exception with a 500 and a traceback.
        """
        try:
            path = request.path.split("?", 1)[0]
            operator = ops_response(path, self, self.metrics)
            if operator is not None:
                return operator
            if path not in _INFERENCE_PATHS:
                return self._reject(connection, http.HTTPStatus.NOT_FOUND, "Not found!")
            if not self._authorized(request.headers):
                return self._reject(connection, http.HTTPStatus.UNAUTHORIZED, "Invalid API-key provided.")
            if self._connections >= self.config.max_connections:
                return self._reject(connection, http.HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections.")
        except Exception:
            logger.debug("unexpected error while checking a handshake request", exc_info=True)
            return self._reject(connection, http.HTTPStatus.BAD_REQUEST, "Bad request.")
        return None

    def _reject(self, connection: ServerConnection, status: http.HTTPStatus, message: str) -> Response:
        self.metrics.refused.labels(status=str(status.value)).inc()
        return connection.respond(status, message + "\n")

    def _authorized(self, headers: Headers) -> bool:
        """Exactly one ``Authorization: Bearer KEY`` header with an accepted key (see :meth:`_accepts`)."""
        if self.config.api_key is None and self.config.accept_key is None:
            return True
        token = bearer_token(headers.get_all("Authorization"))
        return token is not None and self._accepts(token)

    def _accepts(self, token: str) -> bool:
        """The configured key, a key ``config.accept_key`` accepts, or a live temporary key minted here."""
        if self.config.api_key is None and self.config.accept_key is None:
            return True
        if self.rest.tokens.accepts(token):
            return True
        if self.config.accept_key is not None:
            return self.config.accept_key(token)
        assert self.config.api_key is not None
        expected = self.config.api_key.get_secret_value().encode()
        # Header values are decoded as ISO-8859-1 (any byte is one character): encode them back alike.
        return hmac.compare_digest(token.encode("latin-1", errors="replace"), expected)

    async def _refresh_gauges(self) -> None:
        while True:
            self.metrics.refresh()
            await asyncio.sleep(1.0)

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections += 1
        self.metrics.sessions_accepted.inc()
        try:
            handler = ConnectionHandler(
                ws,
                self.engine,
                self.config,
                self._scheduler,
                self._budget,
                quota=self._quota,
                vocabularies=self.vocabularies,
                metrics=self.metrics,
            )
            self._handlers.add(handler)
            try:
                await handler.run()
            finally:
                self._handlers.discard(handler)
        finally:
            self._connections -= 1
