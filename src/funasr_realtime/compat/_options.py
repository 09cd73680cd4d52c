"""Turn the SDK's keyword arguments and module settings into parameters and a connection target.

As in the SDK, keywords given to ``Recognition(...)``, ``start(...)`` or ``call(...)`` are
recognition parameters, sent in run-task verbatim, except the transport options
(:data:`TRANSPORT_OPTIONS`), which say where and how to connect. Values that are None are
not sent. Unlike the SDK, named parameters are validated before anything is sent
(:class:`~funasr_realtime.ConfigurationError`).

Where to connect and with which key is read at call time: the ``base_address=`` /
``api_key=`` keywords, else the module attributes ``funasr_realtime.compat.api_key``,
``base_websocket_api_url`` and ``api_key_file_path`` (:func:`set_region` sets the URLs),
else the environment as :meth:`ClientConfig.resolve` reads it (``$DASHSCOPE_API_KEY``, the
key file, ``$DASHSCOPE_WEBSOCKET_BASE_URL``, workspace and region), else the SDK's default
endpoint (Beijing, :data:`SDK_DEFAULT_URL`). ``api_key`` may be a key provider (a function,
sync or async, asked on every connect).
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ..client import ClientConfig, Timeouts
from ..client.config import ENV_API_KEY
from ..protocol import ENDPOINTS, ConfigurationError, RecognitionParams, Region, check_compatibility, region_of_url

__all__ = ["SDK_DEFAULT_URL", "SDK_REGIONS", "TRANSPORT_OPTIONS", "check_parameters", "region_url", "resolve"]

#: The official SDK's default endpoint (``dashscope.base_websocket_api_url``): Beijing.
SDK_DEFAULT_URL = ENDPOINTS[Region.CN]

#: The SDK's region names that serve Fun-ASR real-time (``set_region``): Singapore, Beijing.
SDK_REGIONS = frozenset({"ap-southeast-1", "cn-beijing"})

# The SDK's check (dashscope/common/env.py): the workspace id becomes a DNS label.
_WORKSPACE_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")

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
    """Where to connect, read now from the keywords, module attributes and environment.

    The environment is read by :meth:`ClientConfig.resolve` (key, key file, URLs, workspace,
    region, as the SDK names them); the module attributes come first, and the endpoint
    defaults to the SDK's (Beijing) rather than the core's.
    """
    settings = sys.modules[__package__ or "funasr_realtime.compat"]
    key = transport.get("api_key") or getattr(settings, "api_key", None)
    url = transport.get("base_address") or getattr(settings, "base_websocket_api_url", None)
    request_timeout = transport.get("request_timeout")
    config = ClientConfig.resolve(
        api_key=key or None,
        url=url or None,
        workspace=transport.get("workspace"),
        headers=transport.get("headers"),
        timeouts=Timeouts(connect=float(request_timeout)) if request_timeout else Timeouts(),
        allow_insecure=bool(transport.get("allow_insecure", False)),
        http_url=getattr(settings, "base_http_api_url", None),
        api_key_file=getattr(settings, "api_key_file_path", None),
        default_region=Region.CN,
        require_key=False,
    )
    if not config.has_key and region_of_url(config.url) is not None:
        raise ConfigurationError(
            f"No API key provided: set funasr_realtime.compat.api_key (dashscope.api_key) or ${ENV_API_KEY}"
        )
    return config


def region_url(region: str, workspace_id: str) -> tuple[str, str]:
    """``set_region``'s endpoints: the MaaS host of ``workspace_id`` in ``region`` (WebSocket, HTTP).

    Like the SDK, ``region`` is one of the SDK's MaaS regions and ``workspace_id`` a hostname
    label; raises ValueError otherwise. Fun-ASR real-time is documented for
    ``ap-southeast-1`` and ``cn-beijing`` only: any other region is refused here too.
    """
    if region not in SDK_REGIONS:
        raise ValueError(f"Unsupported region '{region}'. Supported regions: {sorted(SDK_REGIONS)}")
    if not workspace_id:
        raise ValueError("workspace_id is required")
    if not _WORKSPACE_ID.fullmatch(workspace_id):
        raise ValueError(f"Invalid workspace_id {workspace_id!r}: must match ^[A-Za-z0-9][A-Za-z0-9_-]{{0,63}}$")
    host = f"{workspace_id}.{region}.maas.aliyuncs.com"
    return f"wss://{host}/api-ws/v1/inference", f"https://{host}/api/v1"
