"""The boundary with ``picows``: :class:`PicowsTransport`, the optional fast transport.

``pip install "funasr-realtime[fast]"`` installs picows (a WebSocket protocol written in
Cython); ``Client(transport="picows")`` or ``$FUNASR_REALTIME_TRANSPORT=picows`` selects it.
It keeps the :class:`~.transport.Transport` contract exactly as ``WebSocketTransport`` does
(same headers, TLS, error mapping, close codes, write limit, receive queue, ping rules); it
only frames and parses in C instead of Python: the transport's own CPU per frame is a half
to a third of websockets' (docs/BENCHMARKS.md, section 1).

picows is callback-based and leaves the parts of RFC 6455 that a library user chooses to
its user: reassembling fragmented messages, answering a close, watching the write buffer.
:class:`~._picows_listener.Listener` does them; picows' exceptions are turned into the
funasr-realtime error tree by :func:`~._picows_errors.translate`, alike with websockets'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any, ClassVar

from picows import WSCloseCode, WSMsgType, WSTransport, ws_connect

from .._version import __version__
from ..protocol import ConnectionClosed
from . import _transport
from ._picows_errors import translate, translated
from ._picows_listener import NO_CLOSE_FRAME, WIRE_LOG, Listener, log_frame
from .config import ClientConfig
from .transport import CONGESTED_BYTES

__all__ = ["PicowsTransport", "translate", "translated"]

logger = logging.getLogger(__name__)

_MAX_MESSAGE_BYTES = _transport._MAX_MESSAGE_BYTES
# websockets follows as many redirects by default (a redirect to ws:// from wss:// is refused).
_MAX_REDIRECTS = 10
# Incoming messages are small JSON events: start small, picows grows the buffer as needed.
_READ_BUFFER_BYTES = 4096


class PicowsTransport:
    """A :class:`~.transport.Transport` over a picows connection.

    ``PicowsTransport`` itself is a :class:`~.transport.TransportFactory`: :meth:`open`
    connects to ``config.url``.
    """

    __slots__ = ("_close_timeout", "_listener", "_ws")

    #: Connects to ``config.url`` over the network, like the default transport.
    dials_url: ClassVar[bool] = True

    def __init__(self, ws: WSTransport, listener: Listener, close_timeout: float) -> None:
        self._ws = ws
        self._listener = listener
        self._close_timeout = close_timeout

    @classmethod
    async def open(cls, config: ClientConfig) -> PicowsTransport:
        """Open the WebSocket to ``config.url`` (bounded by ``timeouts.connect``)."""
        ws, listener = await _connect(config)
        return cls(ws, listener, config.timeouts.close)

    @property
    def is_open(self) -> bool:
        ws = self._ws
        return self._listener.closed is None and not ws.is_close_frame_sent and not ws.is_disconnected

    @property
    def congested(self) -> bool:
        ws = self._ws
        return ws.is_disconnected or ws.underlying_transport.get_write_buffer_size() > CONGESTED_BYTES

    def backlog(self) -> int:
        transport = self._ws.underlying_transport
        if transport.is_closing():
            return 0
        return transport.get_write_buffer_size() + _transport._kernel_unsent(transport.get_extra_info("socket"))

    async def send(self, frame: str | bytes) -> None:
        listener = self._listener
        await listener.drained()
        if not self.is_open:
            raise listener.closed or ConnectionClosed(None, NO_CLOSE_FRAME)
        if listener.debug:
            log_frame(">", frame)
        self._ws.send(WSMsgType.TEXT if isinstance(frame, str) else WSMsgType.BINARY, frame)

    def try_send(self, frame: bytes) -> bool:
        ws = self._ws  # the hot path: is_open and congested, inlined
        if (
            self._listener.closed is not None
            or ws.is_close_frame_sent
            or ws.is_disconnected
            or ws.underlying_transport.get_write_buffer_size() > CONGESTED_BYTES
        ):
            return False
        if self._listener.debug:
            log_frame(">", frame)
        try:
            self._ws.send(WSMsgType.BINARY, frame)
        except Exception as exc:
            # As the websockets transport: drop the connection; the reader reports the close.
            logger.warning("closing the connection after a failed write: %r", exc)
            self.abort()
        return True

    async def recv(self) -> str | bytes:
        return await self._listener.next_message()

    def ping(self) -> Callable[[], bool]:
        pings = self._listener.pings
        payload = os.urandom(4)
        with contextlib.suppress(Exception):  # a failed write is the reader's to report
            if self.is_open:
                pings[payload] = None
                self._ws.send_ping(payload)
        return lambda: payload not in pings

    async def close(self, code: int = 1000, reason: str = "") -> None:
        ws = self._ws
        with contextlib.suppress(Exception):
            if not ws.is_disconnected and not ws.is_close_frame_sent:
                ws.send_close(WSCloseCode(code), reason.encode())
            async with asyncio.timeout(self._close_timeout):
                await ws.wait_disconnected()
        self.abort()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.disconnect(False)
        # picows reports the loss on the next loop iteration; callers see it now.
        self._listener.end(ConnectionClosed(None, NO_CLOSE_FRAME))


async def _connect(config: ClientConfig) -> tuple[WSTransport, Listener]:
    timeouts = config.timeouts
    headers = config.handshake_headers()
    if not any(name.lower() == "user-agent" for name in headers):
        headers["User-Agent"] = f"funasr-realtime/{__version__}"

    def listener(*_: Any) -> Listener:
        return Listener(timeouts.close)

    with translated("connect", timeouts.connect):
        async with asyncio.timeout(timeouts.connect):
            ws, made = await ws_connect(
                listener,
                config.url,
                extra_headers=headers,
                websocket_handshake_timeout=timeouts.connect,
                logger_name=WIRE_LOG,
                # Liveness is ours (client/_liveness.py), as with the websockets transport.
                enable_auto_ping=False,
                enable_auto_pong=True,
                max_frame_size=_MAX_MESSAGE_BYTES,
                max_redirects=_MAX_REDIRECTS,
                read_buffer_init_size=_READ_BUFFER_BYTES,
                # The standard asyncio transport: the socket, the write-buffer limits and the
                # kernel-backlog probe behave exactly as under websockets.
                use_aiofastnet=False,
            )
    assert isinstance(made, Listener)
    return ws, made
