"""What each model accepts, and where it is served: the model capability table.

Sources: docs/PROTOCOL.md §1 and §8 (rates, languages, regions per model). Dated
snapshots (``fun-asr-realtime-2025-11-07``) are listed where their capabilities differ
from their family; other snapshots inherit their family's row by prefix.

The table also decides which sample rate to send a model (:func:`choose_sample_rate`), the
one rule the CLI and both adapters apply, and says what each model does with hot words,
context, emotion and filler removal (:class:`Support`; checked by
:func:`~funasr_realtime.protocol.params.check_compatibility` before anything is sent).

Sources of the capability columns (docs/PROTOCOL.md §2, landscape notes; documented,
unverified against a live key):

* hot words (``vocabulary_id``): the "improve accuracy" page lists fun-asr-realtime and
  -2025-11-07 (Singapore and Beijing), -2025-09-15 and fun-asr-flash-8k-realtime (Beijing);
  -2026-02-28 is not in the list (so: unverified). Paraformer v2 models take vocabularies;
  the v1 models use the legacy ``phrase_id`` instead.
* context (``input.context``): the Fun-ASR client-events page and SDK 2.0.2's
  ``Recognition.update_context`` document it for fun-asr-realtime / -2025-11-07, but the
  newer "improve accuracy" page lists context for the non-real-time fun-asr-flash-2026-06-15
  only. The two documented models are marked unverified (sent, with a warning); no page
  documents it for the others.
* emotion (``emo_tag``, ``emo_confidence`` on finals): paraformer-realtime-8k-v2 only, with
  semantic punctuation off.
* ``disfluency_removal_enabled``: Paraformer only.
* ``max_sentence_silence`` default: 1300 ms on Fun-ASR, 800 ms on Paraformer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "ENDPOINTS",
    "MODELS",
    "ModelSpec",
    "Region",
    "Support",
    "accepts_sample_rate",
    "choose_sample_rate",
    "default_sample_rate",
    "find_model",
    "model_offers",
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


class Support(enum.Enum):
    """How far the documentation vouches for a feature on a model."""

    YES = "yes"  # documented for the model
    UNVERIFIED = "unverified"  # documented in one place, contradicted or missing in another: sent, with a warning
    NO = "no"  # not offered by the model: refused before sending


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Capabilities of one model (or model family).

    ``sample_rates`` None means any rate; ``languages`` None means the table does not restrict
    language hints for this model. ``hotwords`` is about ``vocabulary_id``, ``context`` about
    ``input.context``; ``emotion`` says whether finals carry ``emo_tag``/``emo_confidence``;
    ``disfluency_removal`` whether ``disfluency_removal_enabled`` does anything;
    ``default_silence_ms`` the service's ``max_sentence_silence`` when none is sent.
    """

    name: str
    sample_rates: frozenset[int] | None
    languages: frozenset[str] | None
    regions: frozenset[Region]
    hotwords: Support = Support.YES
    context: Support = Support.NO
    emotion: bool = False
    disfluency_removal: bool = False
    default_silence_ms: int = 1300

    @property
    def paraformer(self) -> bool:
        return self.name.startswith("paraformer-")


_BOTH = frozenset({Region.INTL, Region.CN})
_CN = frozenset({Region.CN})
_ZH = frozenset({"zh"})
_FUN_ASR_LANGS = frozenset({"zh", "en", "ja"})
# paraformer-realtime-v2's documented language_hints (yue: Cantonese; its dialects need no hint).
_PARAFORMER_V2_LANGS = frozenset({"zh", "en", "ja", "yue", "ko", "de", "fr", "ru"})
_16K = frozenset({16000})
_8K = frozenset({8000})
_YES, _UNSURE, _NO = Support.YES, Support.UNVERIFIED, Support.NO


def _paraformer(
    name: str,
    rates: frozenset[int] | None,
    languages: frozenset[str],
    *,
    hotwords: Support = _YES,
    emotion: bool = False,
) -> ModelSpec:
    """A Paraformer row: Beijing only, no context, filler removal, 800 ms default silence."""
    return ModelSpec(
        name, rates, languages, _CN, hotwords, _NO, emotion=emotion, disfluency_removal=True, default_silence_ms=800
    )


#: Known models, most specific name first (lookup also matches dated snapshots by prefix).
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("fun-asr-realtime-2025-11-07", _16K, _FUN_ASR_LANGS, _BOTH, context=_UNSURE),
    ModelSpec("fun-asr-realtime-2025-09-15", _16K, frozenset({"zh", "en"}), _CN),
    ModelSpec("fun-asr-realtime-2026-02-28", _16K, _FUN_ASR_LANGS, _CN, hotwords=_UNSURE),
    ModelSpec("fun-asr-realtime", _16K, _FUN_ASR_LANGS, _BOTH, context=_UNSURE),
    ModelSpec("fun-asr-flash-8k-realtime", _8K, _ZH, _CN),
    _paraformer("paraformer-realtime-8k-v2", _8K, _ZH, emotion=True),
    _paraformer("paraformer-realtime-8k-v1", _8K, _ZH, hotwords=_NO),  # v1: the legacy phrase_id instead
    _paraformer("paraformer-realtime-v2", None, _PARAFORMER_V2_LANGS),
    _paraformer("paraformer-realtime-v1", _16K, _ZH, hotwords=_NO),
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


def model_offers(model: str, feature: Literal["context", "hotwords"]) -> bool:
    """Whether ``model`` may take ``feature``: False only for a model the table says lacks it
    (:attr:`Support.NO`); unknown models and :attr:`Support.UNVERIFIED` ones may."""
    spec = find_model(model)
    return spec is None or getattr(spec, feature) is not Support.NO


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
