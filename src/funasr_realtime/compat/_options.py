"""Turn the SDK's keyword arguments and module settings into parameters and a connection target.

As in the SDK, keywords given to ``Recognition(...)``, ``start(...)`` or ``call(...)`` are
recognition parameters, sent in run-task verbatim, except the transport options
(:data:`TRANSPORT_OPTIONS`), which say where and how to connect. Values that are None are
not sent. Unlike the SDK, named parameters are validated before anything is sent
(:class:`~funasr_realtime.ConfigurationError`).

Where to connect and with which key is read at call time: the ``base_address=`` /
``api_key=`` keywords, else the module attributes ``funasr_realtime.compat.api_key`` and
``base_websocket_api_url``, else ``$DASHSCOPE_API_KEY`` and ``$DASHSCOPE_WEBSOCKET_BASE_URL``,
else the SDK's default endpoint (Beijing, :data:`SDK_DEFAULT_URL`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..client import ClientConfig, Timeouts
from ..client.config import ENV_API_KEY, ENV_URL
from ..protocol import ENDPOINTS, ConfigurationError, RecognitionParams, Region, check_compatibility, region_of_url

__all__ = ["SDK_DEFAULT_URL", "TRANSPORT_OPTIONS", "check_parameters", "resolve"]

#: The official SDK's default endpoint (``dashscope.base_websocket_api_url``): Beijing.
SDK_DEFAULT_URL = ENDPOINTS[Region.CN]

#: Keywords that configure the connection and are never sent as recognition parameters.
#: ``user_agent`` is accepted for compatibility and not used; ``allow_insecure`` is ours.
TRANSPORT_OPTIONS = frozenset(
    {"api_key", "workspace", "headers", "base_address", "request_timeout", "user_agent", "allow_insecure"}
)

_PARAMETER_FIELDS = frozenset(RecognitionParams.model_fields) - {"model", "format", "sample_rate", "extra", "phrase_id"}


def resolve(
    model: str, format: str, sample_rate: int, phrase_id: str | None, options: dict[str, Any]
) -> tuple[RecognitionParams, ClientConfig]:
    """Parameters and connection target for one task. Raises :class:`ConfigurationError`."""
    transport = {k: v for k, v in options.items() if k in TRANSPORT_OPTIONS and v is not None}
    parameters = {k: v for k, v in options.items() if k not in TRANSPORT_OPTIONS}
    params = build_params(model, format, sample_rate, phrase_id, parameters)
    config = build_config(transport)
    check_compatibility(params, config.region)
    return params, config


def check_parameters(model: str, format: str, sample_rate: int, options: dict[str, Any]) -> None:
    """Validate the recognition parameters among ``options`` now (the target is resolved per task)."""
    build_params(model, format, sample_rate, None, {k: v for k, v in options.items() if k not in TRANSPORT_OPTIONS})


def build_params(
    model: str, format: str, sample_rate: int, phrase_id: str | None, parameters: dict[str, Any]
) -> RecognitionParams:
    """Validated run-task parameters; unknown names go to ``extra`` and are sent as given."""
    if not model:
        raise ConfigurationError("Model is required!")
    named = {k: v for k, v in parameters.items() if k in _PARAMETER_FIELDS and v is not None}
    extra = {k: v for k, v in parameters.items() if k not in _PARAMETER_FIELDS and v is not None}
    return RecognitionParams(
        model=model, format=format, sample_rate=sample_rate, phrase_id=phrase_id, extra=extra, **named
    )


def build_config(transport: dict[str, Any]) -> ClientConfig:
    """Where to connect, read now from the keywords, module attributes and environment."""
    settings = sys.modules[__package__ or "funasr_realtime.compat"]
    key = transport.get("api_key") or getattr(settings, "api_key", None) or os.environ.get(ENV_API_KEY)
    url = (
        transport.get("base_address")
        or getattr(settings, "base_websocket_api_url", None)
        or os.environ.get(ENV_URL)
        or SDK_DEFAULT_URL
    )
    if not key and region_of_url(url) is not None:
        raise ConfigurationError(
            f"No API key provided: set funasr_realtime.compat.api_key (dashscope.api_key) or ${ENV_API_KEY}"
        )
    request_timeout = transport.get("request_timeout")
    return ClientConfig.resolve(
        api_key=key or None,
        url=url,
        workspace=transport.get("workspace"),
        headers=transport.get("headers"),
        timeouts=Timeouts(connect=float(request_timeout)) if request_timeout else Timeouts(),
        allow_insecure=bool(transport.get("allow_insecure", False)),
    )
