"""What each model accepts, and where it is served: the model capability table.

Sources: docs/PROTOCOL.md §1 and §8 (rates, languages, regions per model). Dated
snapshots (``fun-asr-realtime-2025-11-07``) are listed where their capabilities differ
from their family; other snapshots inherit their family's row by prefix.

The table also decides which sample rate to send a model (:func:`choose_sample_rate`), the
one rule the CLI and both adapters apply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "ENDPOINTS",
    "MODELS",
    "ModelSpec",
    "Region",
    "accepts_sample_rate",
    "choose_sample_rate",
    "default_sample_rate",
    "find_model",
    "region_of_url",
    "workspace_url",
]


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


# The rate sent when nothing else decides: the one most models take, and the service's default.
_DEFAULT_RATE = 16000


def default_sample_rate(model: str) -> int:
    """The rate to send ``model`` when neither the caller nor the audio decides.

    16 kHz where the model takes it, and for a model of any rate or one the table does not
    know; else the lowest rate it takes (8 kHz for the 8k models). Dated snapshots resolve
    as in :func:`find_model`.
    """
    spec = find_model(model)
    if spec is None or spec.sample_rates is None or _DEFAULT_RATE in spec.sample_rates:
        return _DEFAULT_RATE
    return min(spec.sample_rates)


def accepts_sample_rate(model: str, rate: int) -> bool:
    """Whether audio at ``rate`` Hz can be sent to ``model`` as it is, without resampling.

    A model of any rate takes every rate, a known model the rates of its row. A model the
    table does not know takes only :func:`default_sample_rate`'s 16 kHz here: keeping the
    audio's own rate is a guess, and 16 kHz is the safe one. (:func:`check_compatibility`,
    which validates rather than chooses, lets an unknown model through at any rate.)
    """
    spec = find_model(model)
    if spec is None:
        return rate == default_sample_rate(model)
    return spec.sample_rates is None or rate in spec.sample_rates


def choose_sample_rate(model: str, *, explicit: int | None = None, native: int | None = None) -> int:
    """The rate to send ``model``: ``explicit`` if given, else ``native`` if the model accepts
    it (:func:`accepts_sample_rate`), else :func:`default_sample_rate`.

    ``native`` is the rate the audio already has (a WAV header's, a pipeline's): sending it
    as it is saves a resample. ``None`` or 0 means "not given". ``explicit`` is returned
    unchecked: a rate the model refuses is for :func:`check_compatibility` to reject.
    """
    if explicit:
        return explicit
    if native and accepts_sample_rate(model, native):
        return native
    return default_sample_rate(model)
