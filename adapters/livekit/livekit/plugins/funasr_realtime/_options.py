"""Options: what the plugin's constructor and ``update_options`` take, validated by the core.

:class:`Settings` is the options of an STT or a stream: the core's validated
:class:`funasr_realtime.RecognitionParams` plus the plugin-only ones (the language as
LiveKit spells it, the endpointing, the declarative hot words). Every change is checked against the core's model table
(:func:`funasr_realtime.check_compatibility`) before it is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from livekit.agents import APIConnectOptions, LanguageCode

import funasr_realtime as fr

from .models import Endpointing, FunAsrModels

__all__ = ["HotWords", "RecognitionOptions", "Settings", "config_for", "model_sample_rate", "param_changes"]

#: What ``hotwords=`` takes: plain strings (weight 4), ``{"text", "weight", "lang"}`` dicts or hot words.
HotWords = Sequence[str | fr.HotWord | Mapping[str, Any]]

_ENDPOINTING = ("framework", "server")
_AUTO = frozenset({"", "auto", "multi"})  # language values that mean "detect it"


class RecognitionOptions(TypedDict, total=False):
    """What :meth:`STT.update_options` and :meth:`SpeechStream.update_options` can change.

    The names are the constructor's; ``None`` means "not sent" (the service default), and
    ``language=None`` means auto-detect. ``hotwords`` and a non-None ``vocabulary_id`` in one
    call is a ``ValueError``; otherwise the one given last wins.
    """

    model: FunAsrModels | str
    language: str | None
    vocabulary_id: str | None
    hotwords: HotWords | None
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
    # None: no declarative hot words (params.vocabulary_id is the user's own). Else the words
    # (maybe none: the session's keyterms may add some), and params.vocabulary_id is the
    # vocabulary a stream ensured for them (None until it did).
    hotwords: tuple[fr.HotWord, ...] | None = None

    @classmethod
    def create(
        cls,
        params: dict[str, Any],
        *,
        language: str | None,
        endpointing: str,
        region: fr.Region | None,
        hotwords: HotWords | None = None,
    ) -> Settings:
        """Validated settings from the constructor's values; raises ``ValueError`` if invalid.

        ``params`` are :class:`funasr_realtime.RecognitionParams` fields other than the
        language hints, which ``language`` gives.
        """
        if hotwords is not None and params.get("vocabulary_id") is not None:
            raise ValueError("give either vocabulary_id or hotwords, not both")
        code = _language(language)
        checked = fr.RecognitionParams(**params, language_hints=_hints(code))
        fr.check_compatibility(checked, region)
        words = _hot_words(hotwords, checked.model)
        return cls(checked, code, _check_endpointing(endpointing), words)

    def updated(self, changes: RecognitionOptions, *, region: fr.Region | None, derive_rate: bool) -> Settings:
        """A validated copy with ``changes``; raises ``ValueError`` (ConfigurationError) if invalid.

        ``derive_rate``: a model change also moves the sample rate to the new model's own
        (an STT whose rate was not given explicitly); a running stream's rate never changes.
        """
        values: dict[str, Any] = dict(changes)
        endpointing = _check_endpointing(values.pop("endpointing", self.endpointing))
        hotwords = self._hotwords_after(values)
        language = self.language
        if "language" in values:
            language = _language(values.pop("language"))
            values["language_hints"] = _hints(language)
        if derive_rate and "model" in values:
            values["sample_rate"] = fr.default_sample_rate(values["model"])
        params = self.params.replace(**values)
        fr.check_compatibility(params, region)
        return Settings(params, language, endpointing, _hot_words(hotwords, params.model))

    def _hotwords_after(self, values: dict[str, Any]) -> HotWords | None:
        """The hot words after ``values`` (popped from them); clears a vocabulary they outdate."""
        if "hotwords" in values:
            hotwords = values.pop("hotwords")
            if hotwords is not None and values.get("vocabulary_id") is not None:
                raise ValueError("give either vocabulary_id or hotwords, not both")
            if hotwords is not None or self.hotwords is not None:
                values.setdefault("vocabulary_id", None)  # ensured again for the new words
            return cast("HotWords | None", hotwords)
        if values.get("vocabulary_id") is not None:
            return None  # an explicit vocabulary replaces the declarative hot words
        if self.hotwords is not None and values.get("model", self.params.model) != self.params.model:
            values["vocabulary_id"] = None  # a vocabulary is for one model: ensured again
        return self.hotwords

    def with_vocabulary(self, vocabulary_id: str | None) -> Settings:
        """A copy whose params name the vocabulary ensured for the hot words."""
        return dataclasses.replace(self, params=self.params.replace(vocabulary_id=vocabulary_id))

    def with_context(self, context: tuple[fr.ContextMessage, ...]) -> Settings:
        """A copy whose params carry ``context`` (the caller checked the model takes it)."""
        return dataclasses.replace(self, params=self.params.replace(context=context))


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


def _hot_words(hotwords: HotWords | None, model: str) -> tuple[fr.HotWord, ...] | None:
    """Validated hot words (``()`` for an empty list); ``ValueError`` for a model without hot words."""
    if hotwords is None:
        return None
    if isinstance(hotwords, str):
        raise ValueError("hotwords is a list of hot words, not one string")
    spec = fr.find_model(model)
    if spec is not None and spec.hotwords is fr.Support.NO:
        raise ValueError(f"{model} does not take hot words (vocabularies)")
    return fr.Vocabularies.check(hotwords) if len(hotwords) else ()


def _check_endpointing(value: str) -> Endpointing:
    if value not in _ENDPOINTING:
        raise ValueError(f"endpointing must be one of {_ENDPOINTING}, not {value!r}")
    return cast(Endpointing, value)
