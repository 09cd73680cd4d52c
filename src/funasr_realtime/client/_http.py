"""The service's HTTP API (``{http base}/...``, e.g. ``https://dashscope-intl.aliyuncs.com/api/v1``).

The pieces every HTTP route of the client shares (vocabularies, temporary keys): which bases
are acceptable, the headers (the same key and workspace as the WebSocket), one ``POST`` with
httpx's failures turned into the core's errors, and the answer read in the service's shape
(``{"request_id", "output", ...}``, or on failure an HTTP status with ``{"request_id",
"code", "message"}``), a failure being an :class:`ApiError` that
:func:`~funasr_realtime.protocol.classify` classifies by its code, then its status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._hosts import is_loopback
from .._redact import redact
from .._version import __version__
from ..protocol import ApiError, ConfigurationError, ConnectError, RemoteProtocolError, TransportTimeout

if TYPE_CHECKING:
    import httpx

    from .config import ClientConfig

__all__ = ["api_headers", "check_http_url", "post", "service_answer"]


def check_http_url(url: str, allow_insecure: bool) -> None:
    """Raise :class:`ConfigurationError` unless ``url`` is an HTTP(S) base this client may use.

    Plain ``http://`` only to a loopback host, or with ``allow_insecure``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"not an HTTP API base: {url!r} (expected https://host/api/v1)")
    if parts.username or parts.password:
        raise ConfigurationError("credentials in the URL are not supported; pass api_key=")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure:
        host = parts.hostname
        raise ConfigurationError(f"refusing unencrypted http:// to {host}; use https:// or allow_insecure=True")


def api_headers(config: ClientConfig) -> dict[str, str]:
    """The request headers: the config's own, its key (when it has one) and workspace. Never log them."""
    headers = {"User-Agent": f"funasr-realtime/{__version__}", **config.headers}
    if config.api_key is not None:
        headers["Authorization"] = f"Bearer {config.api_key.get_secret_value()}"
    if config.workspace:
        headers["X-DashScope-WorkSpace"] = config.workspace
    return headers


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str],
    what: str,
    timeout: float,
    json: Any = None,
    params: dict[str, Any] | None = None,
    operation: str | None = None,
) -> httpx.Response:
    """One ``POST``. Raises :class:`TransportTimeout` (of ``operation``, default ``what``) or
    :class:`ConnectError` (``what`` names the route).

    httpx's error text may quote the request, so it is redacted and the cause is not
    chained (a printed traceback would show the headers' owner).
    """
    import httpx

    try:
        return await http.post(url, json=json, params=params, headers=headers)
    except httpx.TimeoutException:
        raise TransportTimeout(operation or what, timeout) from None
    except httpx.HTTPError as exc:
        raise ConnectError(f"cannot reach the {what} route: {redact(str(exc)) or type(exc).__name__}") from None


def service_answer(response: httpx.Response, what: str) -> tuple[dict[str, Any], str]:
    """The answer's JSON object and request id; a status of 400 or more raises :class:`ApiError`.

    A success that is not a JSON object is a :class:`RemoteProtocolError`.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if response.status_code < 400:
            raise RemoteProtocolError(f"the {what} route answered HTTP {response.status_code} without a JSON object")
        body = {}
    request_id = str(body.get("request_id") or response.headers.get("x-request-id") or "")
    if response.status_code >= 400:
        code, message = str(body.get("code") or ""), str(body.get("message") or "")
        raise ApiError(response.status_code, redact(code), redact(message), request_id)
    return body, request_id
