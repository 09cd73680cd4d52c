"""Error mapping: the core's :class:`funasr_realtime.ErrorKind` → Pipecat's ``ErrorCategory``.

What an error means is the core's decision (:func:`funasr_realtime.classify`); this table
only names it in Pipecat's vocabulary. Whether the service gives up is not the category's
call either: a stream failure always leaves the service unusable (the core already retried
what could heal), so a ``ServiceSwitcher`` can fail over.
"""

from __future__ import annotations

from pipecat.utils.errors import ErrorCategory

import funasr_realtime as fr

__all__ = ["CATEGORIES", "error_category"]

#: Pipecat's category of each kind; None leaves it to Pipecat's own fallback (``UNKNOWN``).
CATEGORIES: dict[fr.ErrorKind, ErrorCategory | None] = {
    fr.ErrorKind.AUTHENTICATION: ErrorCategory.AUTHENTICATION,
    fr.ErrorKind.PERMISSION: ErrorCategory.AUTHORIZATION,
    fr.ErrorKind.QUOTA: ErrorCategory.QUOTA,
    fr.ErrorKind.BILLING: ErrorCategory.QUOTA,
    fr.ErrorKind.NOT_FOUND: ErrorCategory.INVALID_REQUEST,
    fr.ErrorKind.INVALID_REQUEST: ErrorCategory.INVALID_REQUEST,
    fr.ErrorKind.CONTENT_POLICY: ErrorCategory.INVALID_REQUEST,
    fr.ErrorKind.BAD_AUDIO: ErrorCategory.INVALID_REQUEST,
    fr.ErrorKind.NO_SPEECH: ErrorCategory.INVALID_REQUEST,
    fr.ErrorKind.PROTOCOL: ErrorCategory.SERVER,
    fr.ErrorKind.AUDIO_LOST: ErrorCategory.CONNECTIVITY,
    fr.ErrorKind.UNKNOWN: None,
    fr.ErrorKind.RATE_LIMIT: ErrorCategory.RATE_LIMIT,
    fr.ErrorKind.SERVER: ErrorCategory.SERVER,
    fr.ErrorKind.UNAVAILABLE: ErrorCategory.SERVER,
    # The server heard nothing for too long while the service streams continuously: the
    # audio did not get through.
    fr.ErrorKind.REQUEST_TIMEOUT: ErrorCategory.CONNECTIVITY,
    fr.ErrorKind.TIMEOUT: ErrorCategory.CONNECTIVITY,
    fr.ErrorKind.UNREACHABLE: ErrorCategory.CONNECTIVITY,
    fr.ErrorKind.DISCONNECTED: ErrorCategory.CONNECTIVITY,
}


def error_category(error: BaseException) -> ErrorCategory | None:
    """Pipecat's category of a core error; None for other exceptions (Pipecat classifies those)."""
    if not isinstance(error, fr.FunAsrError):
        return None
    return CATEGORIES[fr.classify(error)]
