"""Recognition parameters: one validated, immutable model.

``RecognitionParams`` holds the model name and every ``run-task`` parameter documented for
the Fun-ASR / Paraformer real-time models (docs/PROTOCOL.md §2.1), plus ``extra`` for
parameters the service adds later, which are sent verbatim. A field left ``None`` is not
sent, so the service default applies.

``check_compatibility`` compares the parameters with the model capability table and the
target region, so a mismatch is a :class:`ConfigurationError` before anything is sent.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigurationError
from .models import Region, find_model

__all__ = ["AUDIO_FORMATS", "AudioFormat", "RecognitionParams", "check_compatibility"]

AudioFormat = Literal["pcm", "wav", "mp3", "opus", "speex", "aac", "amr"]
AUDIO_FORMATS: tuple[str, ...] = ("pcm", "wav", "mp3", "opus", "speex", "aac", "amr")

# Fields that are not wire parameters (model goes in the payload, phrase_id in resources).
_NOT_PARAMETERS = frozenset({"model", "extra", "phrase_id"})


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

    def to_resources(self) -> tuple[dict[str, str], ...]:
        """The ``payload.resources`` of run-task: the legacy Paraformer hot-phrase id, if any."""
        if self.phrase_id is None:
            return ()
        return ({"resource_id": self.phrase_id, "resource_type": "asr_phrase"},)

    @property
    def bytes_per_second(self) -> int | None:
        """Bytes of audio per second for raw PCM (s16le mono), None for other formats."""
        return self.sample_rate * 2 if self.format == "pcm" else None


def check_compatibility(params: RecognitionParams, region: Region | None) -> None:
    """Raise :class:`ConfigurationError` if the model cannot serve these parameters.

    ``region`` None (a local or custom server) skips the region check. Unknown model names
    pass: the server is the judge of models this table does not know.
    """
    spec = find_model(params.model)
    if spec is None:
        return
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


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        location = ".".join(str(p) for p in err["loc"]) or "parameters"
        parts.append(f"{location}: {err['msg']}")
    return "invalid recognition parameters: " + "; ".join(parts)
