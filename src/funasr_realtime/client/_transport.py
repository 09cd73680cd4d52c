"""The boundary with the ``websockets`` library: :class:`WebSocketTransport` and its errors.

:class:`WebSocketTransport` is the default :class:`~.transport.Transport`: the only code of
the client that holds a websockets connection or a socket. Every exception ``websockets``
or the OS raises is turned into the funasr-realtime error tree here and nowhere else
(:func:`translate`), most specific first, with the cause chained so it stays inspectable.
Text the peer chose (a reason phrase, a close reason, a header it sent) goes through
:func:`~funasr_realtime._redact.redact` first, and when the cause's own text carried a
secret the cause is not chained (a printed traceback would show it). Handshake and frame
logging is redacted too (see ``_redact``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import struct
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed as WsConnectionClosed
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.protocol import State as WsState

from .._redact import redact, redacted_logger
from .._version import __version__
from ..protocol import (
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    TransportError,
    TransportTimeout,
)
from .config import ClientConfig
from .transport import CONGESTED_BYTES as _CONGESTED_BYTES

__all__ = ["WIRE_LOGGER", "WebSocketTransport", "carries_secret", "closed_error", "translate", "translated"]

logger = logging.getLogger(__name__)

#: The logger handed to websockets: frames and handshakes at DEBUG, key redacted.
WIRE_LOGGER = redacted_logger("funasr_realtime.wire")

# Incoming messages are small JSON events; 1 MiB leaves room for long sentences.
_MAX_MESSAGE_BYTES = 1 << 20


class WebSocketTransport:
    """A :class:`~.transport.Transport` over a websockets client connection.

    ``WebSocketTransport`` itself is the default :class:`~.transport.TransportFactory`:
    :meth:`open` connects to ``config.url``.
    """

    __slots__ = ("_ws",)

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    @classmethod
    async def open(cls, config: ClientConfig) -> WebSocketTransport:
        """Open the WebSocket to ``config.url`` (bounded by ``timeouts.connect``)."""
        ws = await _connect(config)
        # The handshake request is never read again: drop it (its headers, the API key
        # among them, would stay for the connection's life: 1 to 2 kB per connection).
        ws.request = None
        return cls(ws)

    @property
    def is_open(self) -> bool:
        return self._ws.protocol.state is WsState.OPEN

    @property
    def congested(self) -> bool:
        transport = self._ws.transport
        return transport is None or transport.get_write_buffer_size() > _CONGESTED_BYTES

    def backlog(self) -> int:
        transport = self._ws.transport
        if transport is None or transport.is_closing():
            return 0
        return transport.get_write_buffer_size() + _kernel_unsent(transport.get_extra_info("socket"))

    async def send(self, frame: str | bytes) -> None:
        with translated("send"):
            await self._ws.send(frame)

    def try_send(self, frame: bytes) -> bool:
        ws = self._ws
        if ws.protocol.state is not WsState.OPEN or self.congested:
            return False
        # This is websockets' own send() for bytes minus its coroutine and context manager
        # (about half of a frame's CPU): frame it in the sans-I/O protocol, write it out.
        # send() would then await a drain, which cannot wait below the write limit.
        # send_data() is public but undocumented: the websockets range is pinned and
        # tests/client/test_connection_write.py checks this path on every upgrade.
        try:
            ws.protocol.send_binary(frame)
            ws.send_data()
        except Exception as exc:
            # What websockets' send() would do: terminate the connection. The reader then
            # reports the close, the task fails, and the stream replays this audio.
            logger.warning("closing the connection after a failed write: %r", exc)
            ws.transport.abort()
        return True

    async def recv(self) -> str | bytes:
        try:
            return await self._ws.recv()
        except WsConnectionClosed as exc:
            # websockets' own message repeats the unredacted reason: never chain it then.
            raise closed_error(exc) from (None if carries_secret(exc) else exc)

    def ping(self) -> Callable[[], bool]:
        ws = self._ws
        payload = os.urandom(4)
        with contextlib.suppress(Exception):  # a failed write is the reader's to report
            loop = asyncio.get_running_loop()
            _pending_pings(ws)[payload] = (loop.create_future(), loop.time())
            ws.protocol.send_ping(payload)
            ws.send_data()
        # A pong removes its ping and every earlier one; a close removes them all.
        return lambda: payload not in _pending_pings(ws)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self._ws.close(code, reason)

    def abort(self) -> None:
        transport = self._ws.transport
        if transport is not None:
            transport.abort()


async def _connect(config: ClientConfig) -> ClientConnection:
    timeouts = config.timeouts
    with translated("connect", timeouts.connect):
        return await websockets.connect(
            config.url,
            additional_headers=config.handshake_headers(),
            user_agent_header=f"funasr-realtime/{__version__}",
            # The service negotiates no extension; compressing audio costs CPU for nothing.
            compression=None,
            open_timeout=timeouts.connect,
            # Liveness is ours (client/_liveness.py): websockets' keepalive would declare a
            # busy server dead because our ping waits behind the audio we queued ahead of it.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=timeouts.close,
            max_size=_MAX_MESSAGE_BYTES,
            logger=WIRE_LOGGER,
        )


def _pending_pings(ws: ClientConnection) -> dict[bytes, Any]:
    # websockets keeps the pings waiting for a pong in this dict (``pong_waiters`` before
    # 15.0); a pong removes its ping and every earlier one. The range is pinned and
    # tests/client/test_liveness.py checks this on every upgrade.
    pending = getattr(ws, "pending_pings", None)
    if pending is None:
        pending = ws.pong_waiters  # type: ignore[attr-defined,unused-ignore]
    assert isinstance(pending, dict)
    return pending


def _kernel_unsent(sock: socket.socket | None) -> int:
    """Bytes in the kernel's send queue not yet acknowledged by the peer (Linux), else 0."""
    if sock is None or not sys.platform.startswith("linux"):
        return 0
    import fcntl
    import termios

    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", raw)[0])


def closed_error(exc: WsConnectionClosed) -> ConnectionClosed:
    """Our error for a closed socket, with the close code and (redacted) reason the peer sent.

    Raise it ``from None`` when :func:`carries_secret` says so: websockets' own message
    repeats the unredacted reason.
    """
    frame = exc.rcvd
    if frame is None:
        return ConnectionClosed(None, "no close frame received")
    return ConnectionClosed(frame.code, redact(frame.reason))


def carries_secret(exc: BaseException) -> bool:
    """Whether the text of ``exc`` or of an exception it chains would reveal a secret."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{current}\n{current!r}"
        if redact(text) != text:
            return True
        current = current.__cause__ or current.__context__
    return False


#: A transport's error translation: (error, operation, timeout) -> our error, or the error itself.
Translation = Callable[[Exception, str, "float | None"], Exception]


@contextmanager
def translated(operation: str, timeout: float | None = None, *, by: Translation | None = None) -> Iterator[None]:
    """Translate websockets / OS errors raised inside the block into our error tree.

    With a ``timeout``, a :class:`TimeoutError` becomes :class:`TransportTimeout` for it.
    ``by``: another transport's translation (default :func:`translate`).
    """
    try:
        yield
    except Exception as exc:
        error = (by or translate)(exc, operation, timeout)
        if error is exc:
            raise
        raise error from error.__cause__


def translate(exc: Exception, operation: str, timeout: float | None = None) -> Exception:
    """Our error for ``exc`` (websockets' or the OS's), or ``exc`` itself when it is neither.

    The result's ``__cause__`` is ``exc``, unless the text of ``exc`` would reveal a secret;
    raise it ``from error.__cause__``. A :class:`TimeoutError` becomes
    :class:`TransportTimeout` for ``operation`` when ``timeout`` is given.
    """
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        if timeout is None:
            return exc
        error: Exception = TransportTimeout(operation, timeout)
        error.__cause__ = exc
        return error
    error = _translation(exc)
    if error is not exc:
        error.__cause__ = None if carries_secret(exc) else exc
    return error


def _translation(exc: Exception) -> Exception:
    for kind, build in _TRANSLATIONS:
        if isinstance(exc, kind):
            return build(exc)
    return exc


# Checked in order, most specific first (an InvalidStatus is an InvalidHandshake, an
# SSLError an OSError).
_TRANSLATIONS: tuple[tuple[type[Any], Callable[[Any], Exception]], ...] = (
    (InvalidStatus, lambda e: HandshakeRejected(e.response.status_code, redact(e.response.reason_phrase))),
    (InvalidURI, lambda e: ConfigurationError(f"invalid WebSocket URL: {redact(e.uri)!r}")),
    (WsConnectionClosed, closed_error),
    (InvalidHandshake, lambda e: ConnectError(f"WebSocket handshake failed: {redact(str(e))}")),
    (ssl.SSLError, lambda e: ConnectError(f"TLS error: {redact(str(e.reason or e))}")),
    (OSError, lambda e: ConnectError(f"cannot connect: {redact(str(e.strerror or e))}")),
)
