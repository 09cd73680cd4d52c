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
from .recognizer import recognizer

if TYPE_CHECKING:
    from ..server.thread import ServerThread

__all__ = ["Fault", "FaultProxy", "Handler", "MockConnection", "MockTransport", "ServerThread", "recognizer"]

SERVER_EXTRA_HINT = 'pip install "funasr-realtime[server]"'


def __getattr__(name: str) -> Any:
    """Import ``ServerThread`` lazily (PEP 562); a missing server extra names the install line."""
    if name != "ServerThread":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from ..server.thread import ServerThread
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"ServerThread needs the local server's dependencies ({exc.name} is missing): {SERVER_EXTRA_HINT}",
            name=exc.name,
        ) from exc
    globals()["ServerThread"] = ServerThread  # later look-ups skip this function
    return ServerThread
