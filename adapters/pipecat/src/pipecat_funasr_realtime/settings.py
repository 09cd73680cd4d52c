"""Options of the service: runtime-updatable settings, languages, the rate sent to Fun-ASR.

The settings dataclass follows Pipecat's store/delta convention
(:mod:`pipecat.services.settings`): the service holds a complete *store*; an
``STTUpdateSettingsFrame(delta=FunAsrRealtimeSTTSettings(...))`` carries a sparse *delta*.
Every field except ``language`` (a Pipecat :class:`Language`, stored as a Fun-ASR code) and
``hotwords`` (declarative hot words, see the service) has the name and meaning of the
:class:`funasr_realtime.RecognitionParams` field it feeds; ``None`` means "not sent, the service default applies".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipecat.services.settings import STTSettings
from pipecat.transcriptions.language import Language
from pipecat.utils.types import NOT_GIVEN, NotGiven, is_given

import funasr_realtime as fr

__all__ = [
    "LANGUAGE_MAP",
    "PARAMETER_FIELDS",
    "FunAsrRealtimeSTTSettings",
    "is_spaceless",
    "revert",
    "target_sample_rate",
    "to_language",
]


#: What ``hotwords`` takes: strings (weight 4), ``{"text", "weight", "lang"}`` dicts or hot words.
HotWords = Sequence[str | fr.HotWord | Mapping[str, Any]]


@dataclass
class FunAsrRealtimeSTTSettings(STTSettings):
    """Settings of :class:`~pipecat_funasr_realtime.FunAsrRealtimeSTTService`.

    Parameters:
        model: Fun-ASR model (``fun-asr-realtime``, ``fun-asr-flash-8k-realtime``,
            ``paraformer-realtime-v2``...).
        language: A Pipecat ``Language`` sent as Fun-ASR's language hint; ``None``
            auto-detects. Fun-ASR reads one hint: ``Language.ZH_CN`` → ``"zh"``.
        vocabulary_id: Hot-word vocabulary (created with the DashScope vocabulary API).
        hotwords: Declarative hot words (strings, ``{"text", "weight", "lang"}`` dicts or
            ``funasr_realtime.HotWord``): the service creates or reuses a vocabulary holding
            them (by content) and names it from the next task on. Not with ``vocabulary_id``;
            in a delta, the one given replaces the other.
        phrase_id: Legacy Paraformer hot-phrase id.
        max_sentence_silence: Silence in ms (200-6000, service default 1300) that ends a
            sentence when segmentation is by silence.
        semantic_punctuation_enabled: Segment by semantic punctuation instead of silence
            (more accurate sentences, higher latency).
        multi_threshold_mode_enabled: Stop silence segmentation from cutting sentences too long.
        punctuation_prediction_enabled: Add punctuation.
        inverse_text_normalization_enabled: Write numbers as digits.
        disfluency_removal_enabled: Drop filler words.
        speech_noise_threshold: Speech/noise sensitivity, -1.0 to 1.0.
        extra: Further run-task parameters, sent verbatim.
    """

    vocabulary_id: str | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    hotwords: Sequence[str | fr.HotWord | Mapping[str, Any]] | NotGiven | None = field(
        default_factory=lambda: NOT_GIVEN
    )
    phrase_id: str | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    max_sentence_silence: int | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    semantic_punctuation_enabled: bool | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    multi_threshold_mode_enabled: bool | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    punctuation_prediction_enabled: bool | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    inverse_text_normalization_enabled: bool | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    disfluency_removal_enabled: bool | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    speech_noise_threshold: float | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)

    @classmethod
    def defaults(cls) -> FunAsrRealtimeSTTSettings:
        """A complete store: ``fun-asr-realtime``, auto-detected language, service defaults."""
        return cls(
            model="fun-asr-realtime",
            language=None,
            vocabulary_id=None,
            hotwords=None,
            phrase_id=None,
            max_sentence_silence=None,
            semantic_punctuation_enabled=None,
            multi_threshold_mode_enabled=None,
            punctuation_prediction_enabled=None,
            inverse_text_normalization_enabled=None,
            disfluency_removal_enabled=None,
            speech_noise_threshold=None,
        )

    @classmethod
    def store(
        cls,
        *,
        model: str | NotGiven,
        language: Language | str | NotGiven | None,
        settings: FunAsrRealtimeSTTSettings | None,
    ) -> FunAsrRealtimeSTTSettings:
        """The service's complete store: the defaults, then ``model`` and ``language``, then
        the given fields of ``settings``. Raises ``ConfigurationError`` without a model name."""
        store = cls.defaults()
        if is_given(model):
            store.model = model
        if is_given(language):
            store.language = language
        if settings is not None:
            store.apply_update(settings)
        if not isinstance(store.model, str) or not store.model:
            raise fr.ConfigurationError("a Fun-ASR model name is required")
        store.check_hotwords()
        return store

    def check_hotwords(self) -> None:
        """Validate the hot words (kept as ``funasr_realtime.HotWord``s); ``ConfigurationError``
        if invalid, given with a ``vocabulary_id``, or for a model without hot words."""
        hotwords = self.hotwords
        if not is_given(hotwords) or hotwords is None:
            return
        if self.vocabulary_id is not None:
            raise fr.ConfigurationError("give either vocabulary_id or hotwords, not both")
        if isinstance(hotwords, str):
            raise fr.ConfigurationError("hotwords is a list of hot words, not one string")
        spec = fr.find_model(str(self.model))
        if spec is not None and spec.hotwords is fr.Support.NO:
            raise fr.ConfigurationError(f"{self.model} does not take hot words (vocabularies)")
        self.hotwords = fr.Vocabularies.check(hotwords) if len(hotwords) else ()

    def hot_words(self) -> tuple[fr.HotWord, ...]:
        """The validated hot words (none when not given)."""
        hotwords = self.hotwords
        return tuple(hotwords) if is_given(hotwords) and hotwords else ()  # type: ignore[arg-type]  # checked

    def recognition_parameters(self) -> dict[str, Any]:
        """Keywords for :class:`funasr_realtime.RecognitionParams` (no sample rate or format)."""
        language = self.language
        parameters: dict[str, Any] = {
            "model": self.model,
            "language_hints": (str(language),) if language else None,
            "extra": dict(self.extra),
        }
        for name in PARAMETER_FIELDS:
            parameters[name] = getattr(self, name)
        return parameters


#: Settings fields that are Fun-ASR run-task parameters of the same name.
PARAMETER_FIELDS = (
    "vocabulary_id",
    "phrase_id",
    "max_sentence_silence",
    "semantic_punctuation_enabled",
    "multi_threshold_mode_enabled",
    "punctuation_prediction_enabled",
    "inverse_text_normalization_enabled",
    "disfluency_removal_enabled",
    "speech_noise_threshold",
)

# Fun-ASR's language hints are base codes; every regional or dialect variant of these
# languages (zh-CN, zh-TW, zh-CN-sichuan, en-US, ja-JP...) maps to its base code.
# Other languages fall back to their base code with a Pipecat warning, and the core's
# capability table rejects them at start for models that do not serve them.
_FUN_ASR_LANGUAGES = ("zh", "en", "ja")

#: Pipecat language → Fun-ASR language hint.
LANGUAGE_MAP: dict[Language, str] = {
    language: language.value.split("-")[0]
    for language in Language
    if language.value.split("-")[0] in _FUN_ASR_LANGUAGES
}


def to_language(code: str | None) -> Language | None:
    """The Pipecat ``Language`` of a stored Fun-ASR code (``"zh"`` → ``Language.ZH``)."""
    if not code:
        return None
    try:
        return Language(code)
    except ValueError:
        return None


#: Whether text is Chinese or Japanese, which must not be joined with spaces (the core's
#: :func:`funasr_realtime.is_unspaced`, under the name this module always gave it).
is_spaceless = fr.is_unspaced


def target_sample_rate(model: str, *, explicit: int | None, pipeline_rate: int | None) -> int:
    """The rate sent to Fun-ASR: ``explicit`` (``audio_sample_rate``), else the pipeline's
    when the model takes it as it is, else the model's default (16 kHz, 8 kHz for the 8k models).

    The core's :func:`funasr_realtime.choose_sample_rate`, with the pipeline's rate as the
    audio's own; this name keeps the service's wording.
    """
    return fr.choose_sample_rate(model, explicit=explicit, native=pipeline_rate)


def revert(settings: FunAsrRealtimeSTTSettings, changed: dict[str, Any]) -> None:
    """Undo an applied delta: ``changed`` is what ``apply_update`` returned (the old values)."""
    for name, old in changed.items():
        if hasattr(settings, name):
            setattr(settings, name, old)
        elif is_given(old):
            settings.extra[name] = old
        else:
            settings.extra.pop(name, None)
