"""Which transport a client uses, by name: ``Client(transport="picows")`` or the environment.

``"websockets"`` (the default), ``"picows"`` (the fast transport, ``pip install
"funasr-realtime[fast]"``) or ``"auto"`` (picows when it is installed, else websockets).
:meth:`~.config.ClientConfig.resolve` reads the name from ``transport=``, else from
``$FUNASR_REALTIME_TRANSPORT``; a factory object is used as given.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..protocol import ConfigurationError

if TYPE_CHECKING:
    from .transport import TransportFactory

__all__ = ["ENV_TRANSPORT", "TRANSPORT_NAMES", "choose_transport"]

logger = logging.getLogger(__name__)

ENV_TRANSPORT = "FUNASR_REALTIME_TRANSPORT"
TRANSPORT_NAMES = ("websockets", "picows", "auto")


def choose_transport(spec: TransportFactory | str | None, source: str = "transport") -> TransportFactory | None:
    """The factory for ``spec``: None (the default websockets transport) or a factory.

    A name is one of :data:`TRANSPORT_NAMES` (case-insensitive; empty is the default).
    Raises :class:`ConfigurationError` for another name, or for ``"picows"`` when picows is
    not installed (``"auto"`` then falls back to websockets). ``source`` names where the
    name came from, for the error text.
    """
    if not isinstance(spec, str):
        return spec
    name = spec.strip().lower()
    if name in ("", "websockets"):
        return None
    if name not in TRANSPORT_NAMES:
        known = ", ".join(repr(known) for known in TRANSPORT_NAMES)
        raise ConfigurationError(f"{source}={spec!r}: unknown transport (expected {known} or a TransportFactory)")
    try:
        from ._picows import PicowsTransport
    except ImportError as exc:
        if name == "auto":
            logger.debug("transport 'auto': picows is not installed, using websockets")
            return None
        raise ConfigurationError(
            f'{source}={spec!r} needs picows: pip install "funasr-realtime[fast]" ({exc})'
        ) from None
    return PicowsTransport
