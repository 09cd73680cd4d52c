"""The seam between a :class:`~.connection.Connection` and the network: :class:`Transport`.

A connection drives the sans-I/O :class:`~funasr_realtime.protocol.ClientProtocol` and its
watchdog; what carries the frames is a :class:`Transport`, and nothing else in the client
touches a socket. Two ship with the library:

* ``WebSocketTransport`` (``client/_transport.py``), over ``websockets``: the default;
* ``PicowsTransport`` (``client/_picows.py``), over ``picows``: the same contract at a half
  to a third of the transport's CPU per frame; ``pip install "funasr-realtime[fast]"``, then
  ``transport="picows"`` (or ``$FUNASR_REALTIME_TRANSPORT``, see ``client/_choose.py``);
* :class:`funasr_realtime.testing.MockTransport`, in memory, with a scripted (or a
  recognizing) server on the other end: client and adapter logic tested with no socket.

A connection is opened by a :class:`TransportFactory` (``ClientConfig.transport``, or
``Client(transport=...)``), the way httpx takes ``transport=``.

The contract every transport keeps:

* **errors** cross the seam already in the funasr error tree: a closed connection is
  :class:`~funasr_realtime.protocol.ConnectionClosed` with the code and the (redacted) reason
  the peer sent, a failed open is :class:`~funasr_realtime.protocol.ConnectError` or a
  subclass. Text the peer chose is redacted before it is put in an error;
* **order**: frames leave in the order of the calls, whether written by :meth:`~Transport.send`
  or by :meth:`~Transport.try_send`;
* **bounds** are the caller's: :meth:`~Transport.send` may wait for the peer (backpressure)
  and has no timeout of its own, except that a send started while the transport is not
  :attr:`~Transport.congested` never waits (the hot path relies on it: no timer per frame).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .config import ClientConfig

__all__ = ["CONGESTED_BYTES", "Transport", "TransportFactory", "dials_url"]

#: The write backlog above which a transport is :attr:`~Transport.congested`. It is half of
#: websockets' write limit (32 KiB), so one more frame (at most 16 kB) written below it can
#: never wait: that is what lets the connection's hot path skip the send timeout.
CONGESTED_BYTES = 16 * 1024


class Transport(Protocol):
    """One open connection to the service: frames out, frames in, ping, close."""

    @property
    def is_open(self) -> bool:
        """Whether frames can still be exchanged (False once closing or closed, either side)."""
        ...

    @property
    def congested(self) -> bool:
        """Whether writes are backing up, so that the next :meth:`send` could wait for the peer."""
        ...

    def backlog(self) -> int:
        """Bytes written and not yet taken by the network (userspace buffer and, for a socket,
        the kernel's unsent queue): the liveness check tells a draining backlog from a dead peer."""
        ...

    async def send(self, frame: str | bytes) -> None:
        """Write a text (``str``) or binary (``bytes``) frame; may wait while :attr:`congested`.

        Raises :class:`~funasr_realtime.protocol.ConnectionClosed` when the connection is gone.
        """
        ...

    def try_send(self, frame: bytes) -> bool:
        """Write a binary frame now, without awaiting, if that cannot wait or reorder frames.

        Returns False, having written nothing, when the connection is not open or is
        congested. A write that fails after that point aborts the connection (the reader then
        reports the close) and still returns True: the frame counts as sent.
        """
        ...

    async def recv(self) -> str | bytes:
        """The next frame from the peer. Raises :class:`~funasr_realtime.protocol.ConnectionClosed`
        once the connection is closed and every frame received before that was returned."""
        ...

    def ping(self) -> Callable[[], bool]:
        """Write a ping now, behind the frames already written, without waiting for a drain.

        Returns a function that tells whether the ping has been answered (or the connection
        closed since). A failed write is not raised: the reader reports the connection's end.
        """
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason``; returns once closed or the closing handshake timed
        out. Never raises."""
        ...

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake. Idempotent."""
        ...


class TransportFactory(Protocol):
    """Opens connections: what ``Client(transport=...)`` and ``ClientConfig.transport`` take."""

    async def open(self, config: ClientConfig) -> Transport:
        """Open one connection for ``config`` (bounded by ``config.timeouts.connect``).

        Raises :class:`~funasr_realtime.protocol.ConnectError` (or a subclass) when it cannot.
        """
        ...


def dials_url(factory: TransportFactory | None) -> bool:
    """Whether connections of ``factory`` go to ``config.url`` over the network.

    True for None (the default WebSocket) and the built-in transports (a ``dials_url`` class
    attribute set to True); False for any other factory (an in-memory or custom one), for
    which no key is required and no task quota applies by default.
    """
    return factory is None or getattr(factory, "dials_url", False) is True
