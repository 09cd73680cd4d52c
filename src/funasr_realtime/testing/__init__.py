"""Tools for testing applications built on funasr-realtime without a cloud account.

* :class:`MockTransport` — an in-memory transport (``Client(transport=MockTransport(...))``):
  a handler plays the server on each connection through :class:`MockConnection`, so client
  and adapter logic runs with no socket; without a handler it recognizes in memory with the
  local server's ``synthetic`` engine (:func:`recognizer`, which needs the ``server`` extra);
* :class:`FaultProxy` — a loopback TCP proxy that injects network and service faults; it
  needs only the core dependencies;
* :class:`~funasr_realtime.server.thread.ServerThread` — the local server on a thread; it
  needs the ``server`` extra (``pip install "funasr-realtime[server]"``) and is imported on
  first use, so importing this package never pulls in numpy or pocketsphinx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .mock import Handler, MockConnection, MockTransport
from .proxy import Fault, FaultProxy
from .recognizer import needs_server_extra, recognizer

if TYPE_CHECKING:
    from ..server.thread import ServerThread

__all__ = ["Fault", "FaultProxy", "Handler", "MockConnection", "MockTransport", "ServerThread", "recognizer"]


def __getattr__(name: str) -> Any:
    """Import ``ServerThread`` lazily (PEP 562); a missing server extra names the install line."""
    if name != "ServerThread":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with needs_server_extra("ServerThread"):
        from ..server.thread import ServerThread
    globals()["ServerThread"] = ServerThread  # later look-ups skip this function
    return ServerThread
