"""The receiving half of the picows transport: :class:`Listener` and the wire log.

picows is callback-based and leaves to its user the parts of RFC 6455 a library user
chooses: reassembling fragmented messages, answering a close, watching the write buffer,
pausing the socket when messages pile up. :class:`Listener` does them as websockets does,
with websockets' limits, so the two transports behave alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSProtocolError, WSTransport

from .._redact import redact
from ..protocol import ConnectionClosed
from . import _transport
from .transport import CONGESTED_BYTES

__all__ = ["NO_CLOSE_FRAME", "WIRE_LOG", "Listener", "log_frame"]

# The websockets transport's limits, so both behave alike under load: the write buffer
# pauses senders above 32 KiB (and resumes them at the congestion mark, so a send started
# while not congested never waits), the receive queue stops reading at 16 messages.
_WRITE_LIMIT = 2 * CONGESTED_BYTES
_QUEUE_HIGH, _QUEUE_LOW = 16, 4
_MAX_MESSAGE_BYTES = _transport._MAX_MESSAGE_BYTES
NO_CLOSE_FRAME = "no close frame received"
_NO_STATUS = 1005


class _WireLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """picows' log lines through the redacted wire logger (its handshake line holds the key).

    A logging.Logger would be replaced by unguarded per-socket children; an adapter is used
    as given. picows' per-connection INFO lines (connected, disconnected) become DEBUG, as
    websockets logs them.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


WIRE_LOG = _WireLog(_transport.WIRE_LOGGER, {})


def log_frame(direction: str, message: str | bytes) -> None:
    """A frame at DEBUG, as websockets logs it; text is redacted before it is cut short."""
    if isinstance(message, bytes):
        WIRE_LOG.debug("%s BINARY [%d bytes]", direction, len(message))
        return
    text = redact(message)
    shown = text if len(text) <= 75 else f"{text[:48]}...{text[-24:]}"
    WIRE_LOG.debug("%s TEXT %r [%d bytes]", direction, shown, len(message.encode()))


class Listener(WSListener):
    """The receiving half: queues messages, tracks pongs, answers a close, paces writers."""

    # One per connection: slots keep it small (WSListener already supports weak references).
    __slots__ = (
        "_close_timeout",
        "_drain",
        "_fragment_type",
        "_fragments",
        "_reading_paused",
        "_waiter",
        "closed",
        "debug",
        "messages",
        "pings",
        "ws",
    )

    def __init__(self, close_timeout: float) -> None:
        self.ws: WSTransport | None = None
        # Checked once per connection, as websockets does: no logging cost per frame otherwise.
        self.debug = WIRE_LOG.isEnabledFor(logging.DEBUG)
        self.messages: deque[str | bytes] = deque()
        self.closed: ConnectionClosed | None = None  # set once closing or closed, either side
        self.pings: dict[bytes, None] = {}  # in the order sent
        self._close_timeout = close_timeout
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._fragments: list[bytes] = []
        self._fragment_type = WSMsgType.TEXT

    # ------------------------------------------------------------------ picows callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.ws = transport
        transport.underlying_transport.set_write_buffer_limits(high=_WRITE_LIMIT, low=CONGESTED_BYTES)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if not frame.fin or self._fragments:
                self._fragment_type = kind
                self._fragment(frame)
            elif kind is WSMsgType.TEXT:
                self._push(text_of(frame.get_payload_as_bytes()))
            else:
                self._push(frame.get_payload_as_bytes())
        elif kind is WSMsgType.CONTINUATION:
            self._fragment(frame)
        elif kind is WSMsgType.PONG:
            self._pong(frame.get_payload_as_bytes())
        elif kind is WSMsgType.CLOSE:
            self._close_received(transport, frame)
        # PING: picows answers it (enable_auto_pong), as websockets does.

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.end(ConnectionClosed(None, NO_CLOSE_FRAME))

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # ------------------------------------------------------------------ used by the transport

    async def next_message(self) -> str | bytes:
        while not self.messages:
            if self.closed is not None:
                raise self.closed
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self.messages.popleft()
        if self._reading_paused and len(self.messages) <= _QUEUE_LOW and self.ws is not None:
            self._reading_paused = False
            with contextlib.suppress(Exception):
                self.ws.underlying_transport.resume_reading()
        return message

    async def drained(self) -> None:
        """Until the write buffer is below the congestion mark again (or the connection ends)."""
        while self._drain is not None and self.closed is None:
            await asyncio.shield(self._drain)

    # ------------------------------------------------------------------ internals

    def _push(self, message: str | bytes) -> None:
        if self.debug:
            log_frame("<", message)
        self.messages.append(message)
        self._wake()
        if len(self.messages) >= _QUEUE_HIGH and not self._reading_paused and self.ws is not None:
            self._reading_paused = True  # the reader is behind: let TCP push back on the peer
            self.ws.underlying_transport.pause_reading()

    def _fragment(self, frame: WSFrame) -> None:
        self._fragments.append(frame.get_payload_as_bytes())
        if sum(map(len, self._fragments)) > _MAX_MESSAGE_BYTES:
            raise WSProtocolError(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
        if frame.fin:
            data, self._fragments = b"".join(self._fragments), []
            self._push(text_of(data) if self._fragment_type is WSMsgType.TEXT else data)

    def _pong(self, payload: bytes) -> None:
        # A pong answers its ping and every earlier one (websockets' rule).
        if payload in self.pings:
            for sent in list(self.pings):
                del self.pings[sent]
                if sent == payload:
                    break

    def _close_received(self, transport: WSTransport, frame: WSFrame) -> None:
        code = frame.get_close_code()
        # An empty close frame is "no status" (1005), as websockets reports it.
        number = code.value or _NO_STATUS
        self.end(ConnectionClosed(number, redact(frame.get_close_reason() or "")))
        if not transport.is_close_frame_sent:
            transport.send_close(code)  # echo the code, as websockets does
        # The server closes TCP next; a peer that does not is dropped after the close timeout.
        asyncio.get_running_loop().call_later(self._close_timeout, transport.disconnect, False)

    def end(self, error: ConnectionClosed) -> None:
        """The connection is closing or closed: fail pending pings, wake the reader and writers."""
        if self.closed is None:
            self.closed = error
        self.pings.clear()
        self._wake()
        self.resume_writing()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def text_of(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        # picows sends this close code and drops the connection, as websockets does.
        raise WSProtocolError(WSCloseCode.INVALID_TEXT, "invalid UTF-8 in a text message") from None
