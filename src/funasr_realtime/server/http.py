"""The local server's HTTP side: DashScope's REST routes on the WebSocket port.

The service answers its HTTP API (hot-word vocabularies, temporary keys) on the host that
serves the WebSocket, under ``/api/v1``; so does the local server, on its one port. The
``websockets`` server parses only ``GET`` (the opening handshake), so a connection whose
first bytes are not a ``GET`` request is handed to an :class:`HttpExchange` instead: one
request, parsed with ``h11`` (sans-I/O, like the rest of this project), answered with JSON,
and the connection closed (``Connection: close``; clients reconnect for the next request).
The exchange must end within the server's ``handshake_timeout``, which websockets applies
to every connection that has not opened a WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import h11

__all__ = [
    "HttpExchange",
    "HttpRequest",
    "HttpResponse",
    "Responder",
    "Transport",
    "bearer_token",
    "is_websocket_start",
]

logger = logging.getLogger(__name__)

#: Request bodies above this are refused (413): vocabularies are a few kilobytes.
MAX_BODY_BYTES = 1 << 20


def bearer_token(values: Sequence[str]) -> str | None:
    """The token of exactly one ``Authorization: Bearer TOKEN`` header value; None when the
    header is missing, repeated (which one would be meant?) or of another scheme."""
    if len(values) != 1:
        return None
    scheme, _, token = values[0].partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def is_websocket_start(data: bytes) -> bool:
    """Whether the first bytes of a connection may begin a ``GET`` (the WebSocket handshake)."""
    return data.startswith(b"GET ") or b"GET ".startswith(data)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One parsed request: ``path`` without its query, ``query`` decoded, header names lowercase."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` if it is not."""
        return json.loads(self.body or b"null")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A JSON response; ``body`` is serialized as is."""

    status: int
    body: Mapping[str, Any] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False).encode()


#: Answers a request (never raises: a failure is a response with a status).
Responder = Callable[[HttpRequest], Awaitable[HttpResponse]]


class Transport(Protocol):
    """What an exchange needs of an asyncio transport."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class HttpExchange:
    """One HTTP request on a connection the WebSocket server does not handle.

    Feed it the connection's bytes with :meth:`feed`; once the request is complete it is
    answered by ``respond`` (on a task of its own) and the transport is closed. A malformed
    request gets a 400, a body over :data:`MAX_BODY_BYTES` a 413, a crash in ``respond`` a 500.
    """

    def __init__(self, transport: Transport, respond: Responder) -> None:
        self._transport = transport
        self._respond = respond
        self._h11 = h11.Connection(h11.SERVER)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._complete = False
        self._task: asyncio.Task[None] | None = None  # the answer being prepared (kept: tasks are weakly held)

    def feed(self, data: bytes) -> None:
        if self._complete:
            return  # the request is complete (or refused); anything after it is ignored
        self._h11.receive_data(data)
        try:
            self._read_events()
        except h11.RemoteProtocolError as exc:
            self._answer_now(HttpResponse(exc.error_status_hint, _error("BadRequest", "Malformed HTTP request.")))

    def _read_events(self) -> None:
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request = event
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > MAX_BODY_BYTES:
                    self._answer_now(HttpResponse(413, _error("BadRequest", "Request body too large.")))
                    return
            elif isinstance(event, h11.EndOfMessage):
                assert self._request is not None  # h11 orders the events
                self._complete = True
                request = _parsed(self._request, bytes(self._body))
                self._task = asyncio.get_running_loop().create_task(self._answer(request))
                return
            elif isinstance(event, h11.ConnectionClosed):
                self._transport.close()
                return

    async def _answer(self, request: HttpRequest) -> None:
        try:
            response = await self._respond(request)
        except Exception:
            logger.exception("HTTP route failed: %s %s", request.method, request.path)
            response = HttpResponse(500, _error("InternalError", "Internal server error."))
        self._write(response)

    def _answer_now(self, response: HttpResponse) -> None:
        self._complete = True
        self._write(response)

    def _write(self, response: HttpResponse) -> None:
        body = response.encoded()
        headers = [
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        try:
            if self._h11.their_state is h11.ERROR or self._h11.our_state is not h11.SEND_RESPONSE:
                self._transport.write(_raw_response(response.status, headers, body))
            else:
                data = self._h11.send(h11.Response(status_code=response.status, headers=headers))
                data = (data or b"") + (self._h11.send(h11.Data(data=body)) or b"")
                self._transport.write(data + (self._h11.send(h11.EndOfMessage()) or b""))
        finally:
            self._transport.close()


def _parsed(request: h11.Request, body: bytes) -> HttpRequest:
    target = urlsplit(request.target.decode("latin-1"))
    headers = tuple((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in request.headers)
    return HttpRequest(request.method.decode("latin-1"), target.path, dict(parse_qsl(target.query)), headers, body)


def _raw_response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """A response written by hand, for a request h11 could not parse (it refuses to answer those)."""
    lines = [f"HTTP/1.1 {status} {_reason(status)}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}
