"""Options: what the plugin's constructor and ``update_options`` take, validated by the core.

:class:`Settings` is the options of an STT or a stream: the core's validated
:class:`funasr_realtime.RecognitionParams` plus the plugin-only ones (the language as
LiveKit spells it, the endpointing). Every change is checked against the core's model table
(:func:`funasr_realtime.check_compatibility`) before it is kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from livekit.agents import APIConnectOptions, LanguageCode

import funasr_realtime as fr

from .models import Endpointing, FunAsrModels

__all__ = ["RecognitionOptions", "Settings", "config_for", "model_sample_rate", "param_changes"]

_ENDPOINTING = ("framework", "server")
_AUTO = frozenset({"", "auto", "multi"})  # language values that mean "detect it"


class RecognitionOptions(TypedDict, total=False):
    """What :meth:`STT.update_options` and :meth:`SpeechStream.update_options` can change.

    The names are the constructor's; ``None`` means "not sent" (the service default), and
    ``language=None`` means auto-detect.
    """

    model: FunAsrModels | str
    language: str | None
    vocabulary_id: str | None
    max_sentence_silence: int | None
    semantic_punctuation_enabled: bool | None
    multi_threshold_mode_enabled: bool | None
    speech_noise_threshold: float | None
    endpointing: Endpointing


@dataclass(frozen=True, slots=True)
class Settings:
    """The options of an STT or a stream: the core's validated parameters plus plugin-only ones."""

    params: fr.RecognitionParams
    language: LanguageCode | None  # None: auto-detect (no language_hints sent)
    endpointing: Endpointing

    @classmethod
    def create(
        cls, params: dict[str, Any], *, language: str | None, endpointing: str, region: fr.Region | None
    ) -> Settings:
        """Validated settings from the constructor's values; raises ``ValueError`` if invalid.

        ``params`` are :class:`funasr_realtime.RecognitionParams` fields other than the
        language hints, which ``language`` gives.
        """
        code = _language(language)
        checked = fr.RecognitionParams(**params, language_hints=_hints(code))
        fr.check_compatibility(checked, region)
        return cls(checked, code, _check_endpointing(endpointing))

    def updated(self, changes: RecognitionOptions, *, region: fr.Region | None, derive_rate: bool) -> Settings:
        """A validated copy with ``changes``; raises ``ValueError`` (ConfigurationError) if invalid.

        ``derive_rate``: a model change also moves the sample rate to the new model's own
        (an STT whose rate was not given explicitly); a running stream's rate never changes.
        """
        values: dict[str, Any] = dict(changes)
        endpointing = _check_endpointing(values.pop("endpointing", self.endpointing))
        language = self.language
        if "language" in values:
            language = _language(values.pop("language"))
            values["language_hints"] = _hints(language)
        if derive_rate and "model" in values:
            values["sample_rate"] = fr.default_sample_rate(values["model"])
        params = self.params.replace(**values)
        fr.check_compatibility(params, region)
        return Settings(params, language, endpointing)


#: The rate to send a model when none is given (16 kHz where it takes it, else 8 kHz for the
#: 8k models): the core's :func:`funasr_realtime.default_sample_rate`, kept under the name
#: ``stt.py`` has always exported.
model_sample_rate = fr.default_sample_rate


def param_changes(old: fr.RecognitionParams, new: fr.RecognitionParams) -> dict[str, Any]:
    """The fields that differ, for ``update_params`` (which refuses rate and format)."""
    before, after = old.model_dump(), new.model_dump()
    return {k: v for k, v in after.items() if before[k] != v and k not in ("sample_rate", "format")}


def config_for(client: fr.Client, conn_options: APIConnectOptions) -> fr.ClientConfig:
    """The client's config, with the connect wait bounded by LiveKit's ``conn_options.timeout``."""
    timeouts = client.config.timeouts
    if conn_options.timeout >= timeouts.connect:
        return client.config
    return dataclasses.replace(client.config, timeouts=dataclasses.replace(timeouts, connect=conn_options.timeout))


def _language(language: str | None) -> LanguageCode | None:
    if language is None or language.strip().lower() in _AUTO:
        return None
    return LanguageCode(language)


def _hints(language: LanguageCode | None) -> tuple[str, ...] | None:
    return None if language is None else (language.language,)


def _check_endpointing(value: str) -> Endpointing:
    if value not in _ENDPOINTING:
        raise ValueError(f"endpointing must be one of {_ENDPOINTING}, not {value!r}")
    return cast(Endpointing, value)
