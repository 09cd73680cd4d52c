"""The boundary with the ``websockets`` library: opening sockets and translating its errors.

Every exception ``websockets`` or the OS raises is turned into the funasr-realtime error
tree here and nowhere else (:func:`translated`), most specific first, with ``from exc`` so
the cause stays inspectable. Handshake logging is redacted (see ``_redact``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed as WsConnectionClosed
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from .. import __version__
from .._redact import redacted_logger
from ..protocol import (
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    TransportError,
    TransportTimeout,
)
from .config import ClientConfig

__all__ = ["WIRE_LOGGER", "closed_error", "open_websocket", "translated"]

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
            ping_interval=timeouts.ping_interval,
            ping_timeout=timeouts.ping_timeout,
            close_timeout=timeouts.close,
            max_size=_MAX_MESSAGE_BYTES,
            logger=WIRE_LOGGER,
        )


def closed_error(exc: WsConnectionClosed) -> ConnectionClosed:
    """Our error for a closed socket, with the close code and reason the peer sent."""
    frame = exc.rcvd
    if frame is None:
        return ConnectionClosed(None, "no close frame received")
    return ConnectionClosed(frame.code, frame.reason)


@contextmanager
def translated(operation: str, timeout: float) -> Iterator[None]:
    """Translate websockets / OS errors raised inside the block into our error tree."""
    try:
        yield
    except TransportError:
        raise
    except InvalidStatus as exc:
        raise HandshakeRejected(exc.response.status_code, exc.response.reason_phrase) from exc
    except InvalidURI as exc:
        raise ConfigurationError(f"invalid WebSocket URL: {exc.uri!r}") from exc
    except WsConnectionClosed as exc:
        raise closed_error(exc) from exc
    except InvalidHandshake as exc:
        raise ConnectError(f"WebSocket handshake failed: {exc}") from exc
    except TimeoutError as exc:
        raise TransportTimeout(operation, timeout) from exc
    except ssl.SSLError as exc:
        raise ConnectError(f"TLS error: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ConnectError(f"cannot connect: {exc.strerror or exc}") from exc
