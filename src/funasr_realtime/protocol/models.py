"""What each model accepts, and where it is served: the model capability table.

Sources: docs/PROTOCOL.md §1 and §8 (rates, languages, regions per model). Dated
snapshots (``fun-asr-realtime-2025-11-07``) are listed where their capabilities differ
from their family; other snapshots inherit their family's row by prefix.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ENDPOINTS", "MODELS", "ModelSpec", "Region", "find_model", "region_of_url", "workspace_url"]


class Region(enum.StrEnum):
    """A Model Studio deployment. API keys are bound to one region."""

    INTL = "intl"  # Singapore
    CN = "cn"  # Beijing


#: Public endpoints of the real-time inference WebSocket.
ENDPOINTS = {
    Region.INTL: "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference",
    Region.CN: "wss://dashscope.aliyuncs.com/api-ws/v1/inference",
}

_WORKSPACE_HOSTS = {Region.INTL: "ap-southeast-1", Region.CN: "cn-beijing"}


def workspace_url(workspace_id: str, region: Region) -> str:
    """The workspace-scoped endpoint recommended by the documentation."""
    return f"wss://{workspace_id}.{_WORKSPACE_HOSTS[region]}.maas.aliyuncs.com/api-ws/v1/inference"


def region_of_url(url: str) -> Region | None:
    """The region an Alibaba Cloud URL points at, or None for any other host (e.g. a local server)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "dashscope-intl.aliyuncs.com" or host.endswith(".ap-southeast-1.maas.aliyuncs.com"):
        return Region.INTL
    if host == "dashscope.aliyuncs.com" or host.endswith(".cn-beijing.maas.aliyuncs.com"):
        return Region.CN
    return None


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Capabilities of one model (or model family).

    ``sample_rates`` None means any rate; ``languages`` None means the table does not restrict
    language hints for this model.
    """

    name: str
    sample_rates: frozenset[int] | None
    languages: frozenset[str] | None
    regions: frozenset[Region]


_BOTH = frozenset({Region.INTL, Region.CN})
_CN = frozenset({Region.CN})
_ZH = frozenset({"zh"})
_FUN_ASR_LANGS = frozenset({"zh", "en", "ja"})
_16K = frozenset({16000})
_8K = frozenset({8000})

#: Known models, most specific name first (lookup also matches dated snapshots by prefix).
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("fun-asr-realtime-2025-11-07", _16K, _FUN_ASR_LANGS, _BOTH),
    ModelSpec("fun-asr-realtime-2025-09-15", _16K, frozenset({"zh", "en"}), _CN),
    ModelSpec("fun-asr-realtime-2026-02-28", _16K, _FUN_ASR_LANGS, _CN),
    ModelSpec("fun-asr-realtime", _16K, _FUN_ASR_LANGS, _BOTH),
    ModelSpec("fun-asr-flash-8k-realtime", _8K, _ZH, _CN),
    ModelSpec("paraformer-realtime-8k-v2", _8K, _ZH, _CN),
    ModelSpec("paraformer-realtime-8k-v1", _8K, _ZH, _CN),
    ModelSpec("paraformer-realtime-v2", None, None, _CN),
    ModelSpec("paraformer-realtime-v1", _16K, _ZH, _CN),
)


def find_model(name: str) -> ModelSpec | None:
    """The spec for ``name``: an exact entry, else its family (by prefix), else None."""
    for spec in MODELS:
        if name == spec.name:
            return spec
    for spec in MODELS:
        if name.startswith(spec.name + "-"):
            return spec
    return None
