"""The in-memory wire under :class:`~.mock.MockTransport`: one link per connection.

A :class:`Link` carries frames both ways, in order, and ends once with a close code (or
none: a drop). Its client end, :class:`ClientEnd`, is the
:class:`~funasr_realtime.client.Transport` the client's connection drives; the server end
(:class:`~.mock.MockConnection`) reads and writes it directly.

What it models of a real socket, because client logic depends on it:

* the server normally reads at once, and answers a ping as it reads it;
* a server that stops reading leaves the client's frames and pings on the wire: the
  backlog grows, the transport becomes congested, pings go unanswered, and a send waits
  once the backlog passes the write limit (as a socket's would);
* frames sent before a close are received before the close is reported.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from .._redact import redact
from ..client.transport import CONGESTED_BYTES
from ..protocol import ConnectionClosed

__all__ = ["ClientEnd", "Link"]

# websockets' write limit: a send waits while the backlog is above it. The client's
# transports are congested above half of it (CONGESTED_BYTES), so one more frame never waits.
_WRITE_LIMIT = 2 * CONGESTED_BYTES

Frame = str | bytes

_NO_CLOSE_FRAME = "no close frame received"


class _Ping:
    """A ping on the wire: answered when the server reads it."""

    __slots__ = ("answered",)

    def __init__(self) -> None:
        self.answered = False


class _Channel:
    """Frames one way, in order; once ended, the queued frames still come, then the end."""

    def __init__(self) -> None:
        self._frames: deque[Frame] = deque()
        self._end: tuple[int | None, str] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put(self, frame: Frame) -> None:
        self._frames.append(frame)
        self._wake()

    def end(self, code: int | None, reason: str) -> None:
        if self._end is None:
            self._end = (code, reason)
            self._wake()

    async def get(self) -> Frame:
        while not self._frames:
            if self._end is not None:
                raise ConnectionClosed(*self._end)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._frames.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Link:
    """Both directions of one in-memory connection, and how it ended."""

    def __init__(self) -> None:
        self.to_server = _Channel()
        self.to_client = _Channel()
        self.reading = True
        self._wire: deque[Frame | _Ping] = deque()  # written by the client, not read yet
        self.wire_bytes = 0
        self.closed: tuple[int | None, str] | None = None
        self._client_view: tuple[int | None, str] | None = None  # the close as the client sees it
        self.closed_event = asyncio.Event()
        self._drained = asyncio.Event()

    # ------------------------------------------------------------------ the client writes

    def write(self, frame: Frame) -> None:
        if not self.reading:
            self._wire.append(frame)
            self.wire_bytes += len(frame)
            return
        self.to_server.put(frame)

    def ping(self) -> _Ping:
        ping = _Ping()
        if self.reading:
            ping.answered = True
        elif self.closed is None:
            self._wire.append(ping)
        return ping

    async def wait_below_limit(self) -> None:
        """While the client's unread backlog is over the write limit (and the link is open)."""
        while self.closed is None and self.wire_bytes > _WRITE_LIMIT:
            self._drained.clear()
            await self._drained.wait()

    # ------------------------------------------------------------------ the server side

    def resume_reading(self) -> None:
        """Read everything left on the wire, in order, answering its pings."""
        self.reading = True
        while self._wire:
            item = self._wire.popleft()
            if isinstance(item, _Ping):
                item.answered = True
            else:
                self.to_server.put(item)
        self.wire_bytes = 0
        self._drained.set()

    def close(self, code: int | None, reason: str) -> None:
        """End both directions (None: dropped, no close frame). Unread frames are lost."""
        if self.closed is not None:
            return
        self.closed = (code, reason)
        self._client_view = _client_view(code, reason)
        self._wire.clear()
        self.wire_bytes = 0
        self.to_client.end(*self._client_view)
        self.to_server.end(code, reason if code is not None else _NO_CLOSE_FRAME)
        self._drained.set()
        self.closed_event.set()

    def raise_if_closed(self) -> None:
        if self._client_view is not None:
            raise ConnectionClosed(*self._client_view)


def _client_view(code: int | None, reason: str) -> tuple[int | None, str]:
    """A close as the client is told of it: the reason redacted (text the peer chose is
    redacted at the seam), or no close frame at all."""
    return (code, redact(reason)) if code is not None else (None, _NO_CLOSE_FRAME)


class ClientEnd:
    """The client's :class:`~funasr_realtime.client.Transport` over a :class:`Link`."""

    __slots__ = ("_link",)

    def __init__(self, link: Link) -> None:
        self._link = link

    @property
    def is_open(self) -> bool:
        return self._link.closed is None

    @property
    def congested(self) -> bool:
        return self._link.wire_bytes > CONGESTED_BYTES

    def backlog(self) -> int:
        return self._link.wire_bytes

    async def send(self, frame: str | bytes) -> None:
        link = self._link
        link.raise_if_closed()
        link.write(frame)
        await link.wait_below_limit()

    def try_send(self, frame: bytes) -> bool:
        if not self.is_open or self.congested:
            return False
        self._link.write(frame)
        return True

    async def recv(self) -> str | bytes:
        return await self._link.to_client.get()

    def ping(self) -> Callable[[], bool]:
        link = self._link
        ping = link.ping()
        return lambda: ping.answered or link.closed is not None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._link.close(code, reason)

    def abort(self) -> None:
        self._link.close(None, "")
