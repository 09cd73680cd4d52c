"""The boundary with the ``websockets`` library: opening sockets and translating its errors.

Every exception ``websockets`` or the OS raises is turned into the funasr-realtime error
tree here and nowhere else (:func:`translated`), most specific first, with ``from exc`` so
the cause stays inspectable. Text the peer chose (a reason phrase, a close reason, a header
it sent) goes through :func:`~funasr_realtime._redact.redact` first, and when the cause's
own text carried a secret the cause is not chained (a printed traceback would show it).
Handshake and frame logging is redacted too (see ``_redact``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed as WsConnectionClosed
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from .. import __version__
from .._redact import redact, redacted_logger
from ..protocol import (
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    TransportError,
    TransportTimeout,
)
from .config import ClientConfig

__all__ = ["WIRE_LOGGER", "carries_secret", "closed_error", "open_websocket", "translated"]

#: The logger handed to websockets: frames and handshakes at DEBUG, key redacted.
WIRE_LOGGER = redacted_logger("funasr_realtime.wire")

# Incoming messages are small JSON events; 1 MiB leaves room for long sentences.
_MAX_MESSAGE_BYTES = 1 << 20


async def open_websocket(config: ClientConfig) -> ClientConnection:
    """Open the WebSocket to ``config.url`` (bounded by ``timeouts.connect``)."""
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


@contextmanager
def translated(operation: str, timeout: float) -> Iterator[None]:
    """Translate websockets / OS errors raised inside the block into our error tree."""
    try:
        yield
    except TransportError:
        raise
    except InvalidStatus as exc:
        _raise(HandshakeRejected(exc.response.status_code, redact(exc.response.reason_phrase)), exc)
    except InvalidURI as exc:
        _raise(ConfigurationError(f"invalid WebSocket URL: {redact(exc.uri)!r}"), exc)
    except WsConnectionClosed as exc:
        _raise(closed_error(exc), exc)
    except InvalidHandshake as exc:
        _raise(ConnectError(f"WebSocket handshake failed: {redact(str(exc))}"), exc)
    except TimeoutError as exc:
        raise TransportTimeout(operation, timeout) from exc
    except ssl.SSLError as exc:
        _raise(ConnectError(f"TLS error: {redact(str(exc.reason or exc))}"), exc)
    except OSError as exc:
        _raise(ConnectError(f"cannot connect: {redact(str(exc.strerror or exc))}"), exc)


def _raise(error: Exception, cause: BaseException) -> NoReturn:
    """Raise ``error`` from ``cause``, unless the cause's text would reveal a secret."""
    if carries_secret(cause):
        raise error from None
    raise error from cause
