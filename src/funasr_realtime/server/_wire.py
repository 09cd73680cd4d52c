"""The server's connection class: HTTP and WebSocket on one port, and an answer to a malformed handshake.

:func:`serving` builds the class for one server (its HTTP API in ``rest``, see :mod:`.http`);
:func:`limit_buffers` bounds a socket's kernel buffers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidMessage
from websockets.protocol import State

from .http import HttpExchange, Responder, is_websocket_start

__all__ = ["limit_buffers", "serving"]

_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 24\r\nConnection: close\r\n\r\nMalformed HTTP request.\n"
)


def serving(rest: Responder) -> type[ServerConnection]:
    """The connection class of one server: :class:`_Connection` answering HTTP with ``rest``."""
    return type("Connection", (_Connection,), {"rest": rest})


def limit_buffers(sock: _Socket, size: int) -> None:
    with contextlib.suppress(OSError):  # best effort: a platform may refuse or clamp it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class _Socket(Protocol):
    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...


class _Connection(ServerConnection):
    """A connection that serves HTTP requests too, and answers a malformed handshake.

    A connection whose first bytes are not a ``GET`` is an HTTP request for :attr:`rest`
    (:mod:`.http`): websockets never sees it. websockets answers a request it cannot parse
    by closing the socket: answer 400 first. The sans-I/O protocol queues the end of stream
    right after the parse error, and :meth:`send_data` is where the connection writes what
    the protocol queued, so the response goes out just before the end of stream.
    """

    _answered_malformed = False
    #: Answers what is not a WebSocket handshake (see :mod:`.http`); set per server.
    rest: Responder | None = None
    _http: HttpExchange | None = None
    _sniffed = False

    def data_received(self, data: bytes) -> None:
        # The first bytes decide: a GET is the WebSocket handshake, anything else HTTP.
        if not self._sniffed:
            self._sniffed = True
            if self.rest is not None and not is_websocket_start(data):
                assert isinstance(self.transport, asyncio.Transport)
                self._http = HttpExchange(self.transport, self.rest)
        if self._http is not None:
            self._http.feed(data)
        else:
            super().data_received(data)

    def send_data(self) -> None:
        exc = self.protocol.handshake_exc
        if (
            not self._answered_malformed
            and self.protocol.state is State.CONNECTING
            and isinstance(exc, InvalidMessage)
            and not isinstance(exc.__cause__, EOFError)  # the client went away mid-request
        ):
            self._answered_malformed = True
            self.transport.write(_BAD_REQUEST)
        super().send_data()
