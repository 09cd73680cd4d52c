"""Keep API keys out of logs, exception texts and reprs, whatever a peer echoes back.

Three pieces:

* :func:`register_secret` records a key the process is using (the client config registers
  its key when it resolves one, the server its own). The registry holds the
  :class:`~pydantic.SecretStr` objects weakly: a key is scrubbed for as long as some config
  still holds it, and forgotten afterwards. Secrets shorter than :data:`MIN_SECRET_CHARS`
  are not scrubbed by value (they would garble every log line); the patterns still apply.
* :func:`redact` scrubs a text: every registered secret (and its percent-encoded form),
  every ``Bearer <token>``, every ``Authorization: <value>`` / ``Proxy-Authorization``,
  and anything shaped like a DashScope key (``sk-`` or a temporary ``st-``, and 15 or more key
  characters). Use it
  wherever text a server sent (a reason phrase, a close reason, an error message) goes into
  an exception or a log.
* :class:`SecretFilter` applies :func:`redact` to every record of the loggers it guards:
  the formatted message, the traceback and the stack. websockets logs each frame at DEBUG,
  cutting long ones in the middle; frames are scrubbed *before* websockets formats them, so
  a key cut in half by that truncation is caught too. :func:`protect_loggers` puts the
  filter on every ``funasr_realtime.*`` and ``websockets.*`` logger that exists (a filter
  on a logger sees only records logged on that very logger, not its children's), and
  :func:`register_secret` calls it again, so the loggers of modules imported since are
  covered as well. :func:`redacted_logger` gives a module a guarded logger from the start.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import traceback
import weakref
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from .protocol.errors import ConnectionClosed, FunAsrError, HandshakeRejected, TaskFailedError

__all__ = [
    "MIN_SECRET_CHARS",
    "REDACTED",
    "SecretFilter",
    "active_secrets",
    "protect_loggers",
    "redact",
    "redact_error",
    "redacted_logger",
    "register_secret",
]

#: What a secret is replaced with.
REDACTED = "[redacted]"
#: Registered secrets shorter than this are not scrubbed by value.
MIN_SECRET_CHARS = 8

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})
_GUARDED_PREFIXES = ("funasr_realtime", "websockets")

# A credential value stops at whitespace, quotes and the punctuation that ends a value in
# JSON, a header list or a repr; "[redacted]" itself is one value, so redacting is idempotent.
_VALUE = r"(?:\[redacted\]|[^\s\"',;)\]}]+)"
_BEARER = re.compile(rf"(?i)\b(bearer)(\s+){_VALUE}")
_AUTHORIZATION = re.compile(
    rf"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token|digest|apikey|key)\s+)?{_VALUE}"
)
# ``sk-`` long-lived keys and ``st-`` temporary ones (client/tokens.py).
_DASHSCOPE_KEY = re.compile(r"\bs[kt]-[A-Za-z0-9][A-Za-z0-9_-]{14,}")

# id(secret) -> secret: SecretStr compares by value, so a WeakSet would merge two configs
# holding the same key and forget it when the first one goes.
_secrets: weakref.WeakValueDictionary[int, SecretStr] = weakref.WeakValueDictionary()


def register_secret(secret: SecretStr | None) -> None:
    """Scrub ``secret`` from every guarded log record and every :func:`redact` call while it lives."""
    if secret is None:
        return
    _secrets[id(secret)] = secret
    protect_loggers()


def active_secrets() -> list[str]:
    """The registered secrets long enough to scrub, longest first (so no prefix is left over)."""
    values = {s.get_secret_value() for s in list(_secrets.values())}
    return sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with every known secret and every credential-shaped token replaced by ``[redacted]``.

    ``secrets`` adds secrets to the registered ones (any length). Cheap when nothing matches.
    """
    for secret in (*secrets, *active_secrets()):
        if not secret:
            continue
        text = text.replace(secret, REDACTED)
        encoded = quote(secret, safe="")
        if encoded != secret:
            text = text.replace(encoded, REDACTED)
    text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    text = _AUTHORIZATION.sub(_authorization_value, text)
    return _DASHSCOPE_KEY.sub(REDACTED, text)


def redact_error(error: FunAsrError) -> FunAsrError:
    """``error`` itself when its text is clean, else the same error rebuilt from redacted text.

    For the choke points where server-sent text becomes an error (a task-failed message, a
    protocol violation quoting the peer, a close reason). The rebuilt error is not chained
    to the original, whose text is the problem.
    """
    text = f"{error}\n{error!r}"
    if redact(text) == text:
        return error
    clean: FunAsrError
    if isinstance(error, TaskFailedError):
        clean = TaskFailedError(redact(error.error_code), redact(error.error_message), redact(error.task_id))
    elif isinstance(error, HandshakeRejected):
        clean = HandshakeRejected(error.status_code, redact(error.reason))
    elif isinstance(error, ConnectionClosed):
        clean = ConnectionClosed(error.code, redact(error.reason))
    else:
        try:
            clean = type(error)(redact(str(error)))
        except TypeError:  # a subclass with another signature: keep the class in the text
            clean = FunAsrError(f"{type(error).__name__}: {redact(str(error))}")
    return clean


def _authorization_value(match: re.Match[str]) -> str:
    scheme = match.group(2)
    return f"{match.group(1)}{scheme + ' ' if scheme else ''}{REDACTED}"


class SecretFilter(logging.Filter):
    """Scrubs secrets from a record's message, arguments, traceback and stack; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.args = _safe_args(record.args)
        _redact_message(record)
        _redact_exception(record)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _safe_args(args: Any) -> Any:
    if not isinstance(args, tuple):
        return args
    # websockets' handshake lines: ("> %s: %s", name, value) on both sides.
    if len(args) == 2 and str(args[0]).lower() in _SECRET_HEADERS:
        return (args[0], REDACTED)
    return tuple(_safe_frame(arg) for arg in args)


def _safe_frame(arg: Any) -> Any:
    """A websockets frame with its payload scrubbed, before websockets cuts it for the log."""
    data = getattr(arg, "data", None)
    if not (dataclasses.is_dataclass(arg) and hasattr(arg, "opcode") and isinstance(data, bytes | bytearray)):
        return arg
    # surrogateescape round-trips any bytes (a close frame's binary code, invalid UTF-8).
    text = bytes(data).decode("utf-8", "surrogateescape")
    clean = redact(text)
    if clean == text:
        return arg
    return dataclasses.replace(arg, data=clean.encode("utf-8", "surrogateescape"))  # type: ignore[type-var]


def _redact_message(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:
        # The handler would print msg and args raw in its error report: scrub that instead.
        message = f"{record.msg!s} {record.args!r}"
    clean = redact(message)
    if clean != message:
        # Only then is the template lost (handlers that group records by msg keep it otherwise).
        record.msg, record.args = clean, ()


def _redact_exception(record: logging.LogRecord) -> None:
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if not record.exc_info or record.exc_info[1] is None:
        return
    text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    clean = redact(text)
    if clean != text:
        # Formatters print exc_text when set; dropping exc_info keeps formatters that render
        # the exception object themselves from printing the secret it carries.
        record.exc_text, record.exc_info = clean, None


def _guard(logger: logging.Logger) -> logging.Logger:
    if not any(isinstance(f, SecretFilter) for f in logger.filters):
        logger.addFilter(SecretFilter())
    return logger


def redacted_logger(name: str) -> logging.Logger:
    """The logger ``name`` with :class:`SecretFilter` on it (idempotent)."""
    return _guard(logging.getLogger(name))


def protect_loggers() -> None:
    """Put :class:`SecretFilter` on every existing ``funasr_realtime.*`` and ``websockets.*`` logger."""
    _guard(logging.getLogger("funasr_realtime"))
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith(_GUARDED_PREFIXES):
            _guard(logger)
