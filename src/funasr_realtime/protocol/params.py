"""Recognition parameters: one validated, immutable model.

``RecognitionParams`` holds the model name and every ``run-task`` parameter documented for
the Fun-ASR / Paraformer real-time models (docs/PROTOCOL.md §2.1), plus ``extra`` for
parameters the service adds later, which are sent verbatim. A field left ``None`` is not
sent, so the service default applies.

``context`` is not a parameter: it travels in ``payload.input`` (:meth:`RecognitionParams.
to_input`), in every run-task a stream sends, so a rotation or a replay carries it too.

``check_compatibility`` compares the parameters with the model capability table and the
target region, so a mismatch is a :class:`ConfigurationError` before anything is sent; a
feature the documentation is unsure of for the model is logged once as a warning.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .context import ContextMessage, bound_context, context_message
from .errors import ConfigurationError
from .models import ModelSpec, Region, Support, find_model

__all__ = ["AUDIO_FORMATS", "AudioFormat", "RecognitionParams", "check_compatibility", "context_input"]

AudioFormat = Literal["pcm", "wav", "mp3", "opus", "speex", "aac", "amr"]
AUDIO_FORMATS: tuple[str, ...] = ("pcm", "wav", "mp3", "opus", "speex", "aac", "amr")

logger = logging.getLogger(__name__)

# Fields that are not wire parameters (model goes in the payload, phrase_id in resources,
# context in input).
_NOT_PARAMETERS = frozenset({"model", "extra", "phrase_id", "context"})


class RecognitionParams(BaseModel):
    """Everything a ``run-task`` carries besides the task id.

    Build it with keywords; invalid values raise :class:`ConfigurationError`::

        RecognitionParams(model="fun-asr-realtime", sample_rate=16000, language_hints=["en"])

    Use :meth:`replace` to derive a changed copy (the object is immutable).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = "fun-asr-realtime"
    format: AudioFormat = "pcm"
    sample_rate: int = Field(16000, gt=0, le=192000)
    semantic_punctuation_enabled: bool | None = None
    max_sentence_silence: int | None = Field(None, ge=200, le=6000)
    multi_threshold_mode_enabled: bool | None = None
    punctuation_prediction_enabled: bool | None = None
    inverse_text_normalization_enabled: bool | None = None
    disfluency_removal_enabled: bool | None = None
    heartbeat: bool | None = None
    language_hints: tuple[str, ...] | None = None
    vocabulary_id: str | None = None
    speech_noise_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    phrase_id: str | None = None
    #: Context biasing (``input.context``), bounded as the service does: at most 5 messages
    #: per role (older ones dropped) and 400 characters per message (the rest cut off).
    #: Items may be :class:`ContextMessage`, ``{"role", "text"}`` or the wire shape.
    context: tuple[ContextMessage, ...] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from exc

    @field_validator("language_hints")
    @classmethod
    def _one_hint_is_read(cls, hints: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if hints is not None and len(hints) > 1:
            # Fun-ASR reads only the first hint; say so instead of silently ignoring the rest.
            warnings.warn(
                f"language_hints={list(hints)}: Fun-ASR uses only the first hint ({hints[0]!r})",
                UserWarning,
                stacklevel=4,
            )
        return hints

    @field_validator("context", mode="before")
    @classmethod
    def _bounded_context(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise ValueError("context is a list of messages")
        kept, _ = bound_context(context_message(item) for item in value)
        return kept

    @field_validator("extra")
    @classmethod
    def _extra_does_not_shadow(cls, extra: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(extra) & (set(cls.model_fields) - {"extra"}))
        if clash:
            raise ValueError(f"extra repeats named parameters {clash}; set them directly")
        return extra

    def replace(self, **changes: Any) -> RecognitionParams:
        """A validated copy with ``changes`` applied."""
        return RecognitionParams(**{**self.model_dump(), **changes})

    def to_parameters(self) -> dict[str, Any]:
        """The ``payload.parameters`` object of run-task (None fields omitted)."""
        params: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name not in _NOT_PARAMETERS and value is not None:
                params[name] = list(value) if isinstance(value, tuple) else value
        params.update(self.extra)
        return params

    def to_input(self) -> dict[str, Any]:
        """The ``payload.input`` object of run-task: ``{"context": [...]}``, or ``{}`` without context."""
        if not self.context:
            return {}
        return context_input(self.context)

    def to_resources(self) -> tuple[dict[str, str], ...]:
        """The ``payload.resources`` of run-task: the legacy Paraformer hot-phrase id, if any."""
        if self.phrase_id is None:
            return ()
        return ({"resource_id": self.phrase_id, "resource_type": "asr_phrase"},)

    @property
    def bytes_per_second(self) -> int | None:
        """Bytes of audio per second for raw PCM (s16le mono), None for other formats."""
        return self.sample_rate * 2 if self.format == "pcm" else None


def context_input(context: Iterable[ContextMessage]) -> dict[str, Any]:
    """The ``input`` object carrying ``context`` (of run-task or continue-task)."""
    return {"context": [message.to_wire() for message in context]}


def check_compatibility(params: RecognitionParams, region: Region | None) -> None:
    """Raise :class:`ConfigurationError` if the model cannot serve these parameters.

    Refused: a sample rate, language or region the model lacks, ``context`` or
    ``vocabulary_id`` on a model that has no such feature (:attr:`Support.NO`). Logged once
    per model and feature (a warning, nothing refused): a feature the documentation is unsure
    of for the model (:attr:`Support.UNVERIFIED`), and ``disfluency_removal_enabled`` on a
    model that ignores it (SDK programs pass it to every model).
    ``region`` None (a local or custom server) skips the region check. Unknown model names
    pass: the server is the judge of models this table does not know.
    """
    spec = find_model(params.model)
    if spec is None:
        return
    _check_features(params, spec)
    if spec.sample_rates is not None and params.sample_rate not in spec.sample_rates:
        rates = ", ".join(f"{r} Hz" for r in sorted(spec.sample_rates))
        raise ConfigurationError(
            f"{params.model} accepts {rates} audio, not {params.sample_rate} Hz; "
            "resample the audio or pick another model"
        )
    if spec.languages is not None and params.language_hints:
        unknown = [hint for hint in params.language_hints if hint not in spec.languages]
        if unknown:
            raise ConfigurationError(
                f"{params.model} does not support language {unknown[0]!r} (supported: {sorted(spec.languages)})"
            )
    if region is not None and region not in spec.regions:
        where = ", ".join(sorted(r.value for r in spec.regions))
        raise ConfigurationError(f"{params.model} is not served in region {region.value!r} (only {where})")


def _check_features(params: RecognitionParams, spec: ModelSpec) -> None:
    if params.context:
        _gate(params.model, "context", spec.context)
    if params.vocabulary_id is not None:
        _gate(params.model, "hot words (vocabulary_id)", spec.hotwords)
    if params.disfluency_removal_enabled and not spec.disfluency_removal:
        _warn_once(params.model, "disfluency_removal_enabled", "only Paraformer models remove fillers; ignored")


def _gate(model: str, feature: str, support: Support) -> None:
    if support is Support.NO:
        raise ConfigurationError(f"{model} does not support {feature}; pick a model that does or leave it out")
    if support is Support.UNVERIFIED:
        _warn_once(model, feature, "the documentation disagrees on whether this model supports it; sent anyway")


_warned: set[tuple[str, str]] = set()


def _warn_once(model: str, feature: str, why: str) -> None:
    if (model, feature) not in _warned:
        _warned.add((model, feature))
        logger.warning("%s with %s: %s", feature, model, why)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        location = ".".join(str(p) for p in err["loc"]) or "parameters"
        parts.append(f"{location}: {err['msg']}")
    return "invalid recognition parameters: " + "; ".join(parts)
