"""Run the local server in a background thread, for synchronous programs and test suites.

::

    with ServerThread(ServerConfig(grammar="sentences.jsgf")) as server:
        dashscope.base_websocket_api_url = server.url
        ...

The server gets its own event loop, so blocking clients (the official SDK, the
``funasr_realtime.compat`` facade) can talk to it from the calling thread.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from types import TracebackType

from .app import LocalServer
from .config import ServerConfig
from .engines import Engine

__all__ = ["ServerThread"]


class ServerThread:
    """A :class:`LocalServer` on a daemon thread. ``start()`` returns once it listens."""

    def __init__(
        self, config: ServerConfig | None = None, *, engine: Engine | None = None, start_timeout: float = 30.0
    ) -> None:
        self._server = LocalServer(config, engine=engine)
        self._start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def http_url(self) -> str:
        """The HTTP API's base, ``http://HOST:PORT/api/v1`` (see :attr:`LocalServer.http_url`)."""
        return self._server.http_url

    @property
    def server(self) -> LocalServer:
        return self._server

    def start(self) -> ServerThread:
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="funasr-realtime-server", daemon=True)
        self._thread.start()
        ready.result(timeout=self._start_timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, ready: Future[None]) -> None:
        asyncio.run(self._main(ready))

    async def _main(self, ready: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self._server.start()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            await self._stopped.wait()
        finally:
            await self._server.stop()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
