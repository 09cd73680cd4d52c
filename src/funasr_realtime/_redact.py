"""Keep the API key out of logs: a filter for websockets' handshake header lines.

websockets logs every handshake header at DEBUG as ``("> %s: %s", name, value)`` (client)
or ``("< %s: %s", name, value)`` (server); the Authorization value is the Bearer key.
"""

from __future__ import annotations

import logging

__all__ = ["redacted_logger"]

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})


class _RedactSecretHeaders(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() in _SECRET_HEADERS:
            record.args = (args[0], "[redacted]")
        return True


def redacted_logger(name: str) -> logging.Logger:
    """The logger ``name`` with secret header values redacted (idempotent)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RedactSecretHeaders) for f in logger.filters):
        logger.addFilter(_RedactSecretHeaders())
    return logger
