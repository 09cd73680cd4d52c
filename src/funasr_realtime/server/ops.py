"""The operators' routes on the server's port: ``GET /health`` and ``GET /metrics``.

Neither asks for the API key. A load balancer's health check carries no credentials, and
the service's key must never sit in a balancer's or a scraper's configuration; the answers
hold no transcript, key or client address, only counts and the engine's name. On a public
interface, keep ``/metrics`` private at the proxy (see the README's "Self-hosting").

``/health`` answers JSON: ``status``, ``engine``, ``pid``, ``worker`` (its index with
``serve --workers N``, else null), ``workers``, ``uptime_s`` and ``sessions``. The status is
200 ``ok`` while the server takes new sessions; 503 ``full`` when it is at
``max_connections`` (a new session would be refused), 503 ``draining`` once it is stopping.

Both are answered at the WebSocket handshake (``process_request``): they are ``GET``
requests, which the port's first-bytes sniffing (:mod:`.http`) hands to websockets.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from dataclasses import dataclass
from typing import Protocol

from websockets.datastructures import Headers
from websockets.http11 import Response

from .metrics import CONTENT_TYPE, ServerMetrics, exposition

__all__ = ["HEALTH_PATH", "METRICS_PATH", "HealthState", "WorkerSlot", "health", "ops_response"]

HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    """Which worker of ``serve --workers N`` this server is: ``index`` of ``count``."""

    index: int
    count: int


class HealthState(Protocol):
    """What ``/health`` reads from a server."""

    @property
    def engine_name(self) -> str: ...

    @property
    def worker(self) -> WorkerSlot | None: ...

    @property
    def started_at(self) -> float: ...

    @property
    def draining(self) -> bool: ...

    @property
    def full(self) -> bool: ...

    @property
    def active_connections(self) -> int: ...


def health(state: HealthState) -> tuple[int, dict[str, object]]:
    """The HTTP status and JSON body of ``/health`` (see the module docstring)."""
    status = "draining" if state.draining else "full" if state.full else "ok"
    worker = state.worker
    body: dict[str, object] = {
        "status": status,
        "engine": state.engine_name,
        "pid": os.getpid(),
        "worker": worker.index if worker else None,
        "workers": worker.count if worker else 1,
        "uptime_s": round(time.monotonic() - state.started_at, 3),
        "sessions": state.active_connections,
    }
    return (200 if status == "ok" else 503), body


def ops_response(path: str, state: HealthState, metrics: ServerMetrics) -> Response | None:
    """The answer to a ``GET`` of an operator's route, or None when ``path`` is not one."""
    if path == HEALTH_PATH:
        status, body = health(state)
        return _response(status, json.dumps(body).encode(), "application/json; charset=utf-8")
    if path == METRICS_PATH:
        return _response(200, exposition(metrics), CONTENT_TYPE)
    return None


def _response(status: int, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
        ]
    )
    return Response(status, "OK" if status == 200 else "Service Unavailable", headers, body)
