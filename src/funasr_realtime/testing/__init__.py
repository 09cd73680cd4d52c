"""Tools for testing applications built on funasr-realtime without a cloud account.

* :class:`FaultProxy` — a loopback TCP proxy that injects network and service faults;
* :class:`~funasr_realtime.server.thread.ServerThread` — the local server on a thread.
"""

from ..server.thread import ServerThread
from .proxy import Fault, FaultProxy

__all__ = ["Fault", "FaultProxy", "ServerThread"]
