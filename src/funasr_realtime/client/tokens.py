"""Temporary API keys (``st-...``), minted through the service's tokens route.

The route, as documented (Model Studio, "Generate a temporary API key"; not yet verified
against a live key): ``POST {http base}/tokens?expire_in_seconds=N`` with the long-lived key
as ``Authorization: Bearer``; ``N`` is 1 to 1800 (default 60); the answer is
``{"token": "st-...", "expires_at": <unix seconds>}``. A temporary key inherits its parent's
permissions and cannot be revoked, so keep it short. Pass a function that mints one as
``api_key=`` and every connect gets a fresh key::

    async def fresh_key() -> SecretStr:
        return (await mint_temporary_key(parent_key, 60)).token

    client = Client(api_key=fresh_key)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from .._redact import register_secret
from ..protocol import (
    ConfigurationError,
    RemoteProtocolError,
)
from ._http import api_headers, check_http_url, post, service_answer
from .config import ClientConfig, KeyProvider

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_TTL", "MAX_TTL", "MIN_TTL", "TemporaryKey", "mint_temporary_key"]

#: Lifetimes the tokens route accepts (seconds), and its default.
MIN_TTL, MAX_TTL, DEFAULT_TTL = 1, 1800, 60


@dataclass(frozen=True, slots=True)
class TemporaryKey:
    """A minted key: ``token`` (``st-...``, never shown in a repr) and ``expires_at`` (Unix seconds)."""

    token: SecretStr
    expires_at: float

    def expires_in(self, now: float) -> float:
        """Seconds left at Unix time ``now`` (negative once expired)."""
        return self.expires_at - now


async def mint_temporary_key(
    api_key: str | SecretStr | KeyProvider | None = None,
    expire_in_seconds: int = DEFAULT_TTL,
    *,
    http_url: str | None = None,
    url: str | None = None,
    region: str | None = None,
    workspace: str | None = None,
    timeout: float = 10.0,
    allow_insecure: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TemporaryKey:
    """Mint a temporary key valid for ``expire_in_seconds`` (1 to 1800, checked before sending).

    The target and the long-lived key are resolved as :meth:`ClientConfig.resolve` does
    (``http_url``, else ``$DASHSCOPE_HTTP_BASE_URL``, else the HTTP base of the WebSocket
    endpoint of ``url`` / ``region`` / ``workspace``; ``api_key``, else the environment and the
    key file). Plain ``http://`` is accepted for loopback hosts, or with ``allow_insecure``.
    The token is registered for scrubbing from logs and errors.

    Raises :class:`ConfigurationError` (bad lifetime, no key), :class:`ApiError` (the service
    refused: ``InvalidApiKey``, ``Throttling.RateQuota``...; classified by
    :func:`~funasr_realtime.protocol.classify`), :class:`ConnectError` /
    :class:`TransportTimeout` (network), :class:`RemoteProtocolError` (an answer that is not
    a token). ``transport`` is httpx's (e.g. ``httpx.MockTransport`` in tests).
    """
    _check_ttl(expire_in_seconds)
    config = ClientConfig.resolve(
        api_key=api_key, url=url, region=region, workspace=workspace, allow_insecure=allow_insecure, http_url=http_url
    )
    config = await config.with_current_key()
    if config.api_key is None:
        raise ConfigurationError("minting a temporary key needs a long-lived API key: pass api_key=")
    base = config.http_url
    assert base is not None  # ClientConfig derives it from the URL
    check_http_url(base, allow_insecure)
    import httpx  # here, not at import: only minting needs it

    url, params = f"{base.rstrip('/')}/tokens", {"expire_in_seconds": expire_in_seconds}
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        response = await post(
            http,
            url,
            headers=api_headers(config),
            what="tokens",
            timeout=timeout,
            params=params,
            operation="temporary key",
        )
    return _parse(response)


def _check_ttl(seconds: int) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_TTL <= seconds <= MAX_TTL:
        raise ConfigurationError(
            f"expire_in_seconds must be a whole number of seconds from {MIN_TTL} to {MAX_TTL}, not {seconds!r}"
        )


def _parse(response: httpx.Response) -> TemporaryKey:
    body, _ = service_answer(response, "tokens")
    token, expires_at = body.get("token"), body.get("expires_at")
    valid_time = isinstance(expires_at, int | float) and not isinstance(expires_at, bool) and math.isfinite(expires_at)
    if not isinstance(token, str) or not token or not valid_time:
        raise RemoteProtocolError("the tokens route answered without a token and its expires_at")
    secret = SecretStr(token)
    register_secret(secret)
    return TemporaryKey(secret, float(expires_at))  # type: ignore[arg-type]
