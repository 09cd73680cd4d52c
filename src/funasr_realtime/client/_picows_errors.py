"""picows' exceptions in the funasr-realtime error tree: :func:`translate`.

It defers to the websockets transport's translation for what both share (timeouts, TLS and
OS errors), so the two transports map every failure alike; what is picows' own (a refused
upgrade, a bad URL, a broken handshake) is mapped here, the same way.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from picows import WSError, WSHandshakeError, WSInvalidURL

from .._redact import redact
from ..protocol import ConfigurationError, ConnectError, HandshakeRejected, TransportError
from . import _transport

__all__ = ["translate", "translated"]


def translated(operation: str, timeout: float | None = None) -> AbstractContextManager[None]:
    """Translate picows / OS errors raised inside the block into our error tree."""
    return _transport.translated(operation, timeout, by=translate)


def translate(exc: Exception, operation: str, timeout: float | None = None) -> Exception:
    """Our error for a picows, OS or timeout error ``exc``; ``exc`` itself when it is none.

    As :func:`._transport.translate` (which handles the OS, TLS and timeout errors): the
    cause is chained unless its text would reveal a secret.
    """
    if isinstance(exc, TransportError) or not isinstance(exc, WSError):
        return _transport.translate(exc, operation, timeout)
    error: Exception
    status = _rejected_status(exc)
    if status is not None:
        error = HandshakeRejected(*status)
    elif isinstance(exc, WSInvalidURL):
        error = ConfigurationError(f"invalid WebSocket URL: {redact(str(exc))}")
    elif isinstance(exc, WSHandshakeError):
        error = ConnectError(f"WebSocket handshake failed: {redact(str(exc))}")
    else:
        error = ConnectError(f"WebSocket error: {redact(str(exc))}")
    error.__cause__ = None if _carries_secret(exc) else exc
    return error


def _carries_secret(exc: WSError) -> bool:
    """Whether ``exc`` would reveal a secret: in its text, or in the response it keeps."""
    kept = b"".join(getattr(exc, name, None) or b"" for name in ("raw_header", "raw_body"))
    text = kept.decode("latin-1")
    return _transport.carries_secret(exc) or redact(text) != text


def _rejected_status(exc: WSError) -> tuple[int, str] | None:
    """The HTTP status and (redacted) reason phrase that refused the upgrade, if one did.

    Read from the status line itself: picows keeps only statuses :class:`http.HTTPStatus`
    knows, and its phrase rather than the server's. Redirects and 101 are not refusals.
    """
    raw = getattr(exc, "raw_header", None)
    if not isinstance(exc, WSHandshakeError) or not raw:
        return None
    parts = bytes(raw).split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].upper().startswith("HTTP/") or not parts[1].isdigit():
        return None
    status = int(parts[1])
    if status == 101 or 300 <= status < 400:
        return None
    return status, redact(parts[2] if len(parts) > 2 else "")
