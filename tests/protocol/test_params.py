"""RecognitionParams validation and the model capability table (docs/PROTOCOL.md §1, §2.1, §8)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from funasr_realtime.protocol import (
    AUDIO_FORMATS,
    ENDPOINTS,
    MODELS,
    ConfigurationError,
    RecognitionParams,
    Region,
    check_compatibility,
    find_model,
    region_of_url,
    workspace_url,
)

# --------------------------------------------------------------------------- defaults and serialisation


def test_defaults() -> None:
    p = RecognitionParams()
    assert p.model == "fun-asr-realtime"
    assert p.format == "pcm"
    assert p.sample_rate == 16000
    assert p.language_hints is None
    assert p.phrase_id is None
    assert p.extra == {}
    assert p.bytes_per_second == 32000


def test_default_parameters_are_what_the_sdk_sends() -> None:
    assert RecognitionParams().to_parameters() == {"format": "pcm", "sample_rate": 16000}


def test_to_parameters_omits_none_and_non_wire_fields() -> None:
    params = RecognitionParams(model="paraformer-realtime-v2", sample_rate=8000, heartbeat=False, phrase_id="p1")
    wire = params.to_parameters()
    assert wire == {"format": "pcm", "sample_rate": 8000, "heartbeat": False}
    assert "model" not in wire
    assert "phrase_id" not in wire
    assert "extra" not in wire
    assert all(value is not None for value in wire.values())


def test_to_parameters_matches_the_sdk_capture_with_all_options() -> None:
    captured = {
        "sample_rate": 16000,
        "format": "wav",
        "semantic_punctuation_enabled": False,
        "max_sentence_silence": 800,
        "multi_threshold_mode_enabled": True,
        "heartbeat": True,
        "language_hints": ["zh", "en"],
        "vocabulary_id": "vocab-test-123",
        "punctuation_prediction_enabled": True,
        "inverse_text_normalization_enabled": True,
        "speech_noise_threshold": 0.3,
        "disfluency_removal_enabled": True,
    }
    with pytest.warns(UserWarning):
        params = RecognitionParams(**captured)
    assert params.to_parameters() == captured
    assert isinstance(params.to_parameters()["language_hints"], list)


def test_extra_is_sent_verbatim() -> None:
    extra = {"vad_model": {"threshold": [0.1, 0.2]}, "new_flag": True, "ratio": 0.5}
    wire = RecognitionParams(extra=extra).to_parameters()
    assert wire == {"format": "pcm", "sample_rate": 16000, **extra}
    assert wire["vad_model"] == {"threshold": [0.1, 0.2]}


def test_to_parameters_does_not_alias_extra() -> None:
    params = RecognitionParams(extra={"k": 1})
    params.to_parameters()["k"] = 2
    assert params.to_parameters()["k"] == 1


def test_to_resources() -> None:
    assert RecognitionParams().to_resources() == ()
    assert RecognitionParams(phrase_id="abc").to_resources() == ({"resource_id": "abc", "resource_type": "asr_phrase"},)


def test_bytes_per_second_only_for_pcm() -> None:
    assert RecognitionParams(sample_rate=8000).bytes_per_second == 16000
    assert RecognitionParams(format="wav").bytes_per_second is None
    assert RecognitionParams(format="opus").bytes_per_second is None


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_every_documented_format_is_accepted(fmt: str) -> None:
    assert RecognitionParams(format=fmt).format == fmt


def test_audio_formats_match_reference() -> None:
    assert set(AUDIO_FORMATS) == {"pcm", "wav", "mp3", "opus", "speex", "aac", "amr"}


# --------------------------------------------------------------------------- language hints


def test_one_language_hint_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params = RecognitionParams(language_hints=["en"])
    assert params.language_hints == ("en",)
    assert params.to_parameters()["language_hints"] == ["en"]


def test_several_language_hints_warn_and_are_still_sent() -> None:
    with pytest.warns(UserWarning, match="first hint") as record:
        params = RecognitionParams(language_hints=["zh", "en"])
    assert "'zh'" in str(record[0].message)
    assert params.to_parameters()["language_hints"] == ["zh", "en"]


def test_language_hints_must_be_a_list_not_a_string() -> None:
    with pytest.raises(ConfigurationError, match="language_hints"):
        RecognitionParams(language_hints="en")


# --------------------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_sentence_silence": 199}, "max_sentence_silence"),
        ({"max_sentence_silence": 6001}, "max_sentence_silence"),
        ({"speech_noise_threshold": -1.01}, "speech_noise_threshold"),
        ({"speech_noise_threshold": 1.5}, "speech_noise_threshold"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": -16000}, "sample_rate"),
        ({"sample_rate": "fast"}, "sample_rate"),
        ({"format": "flac"}, "format"),
        ({"format": "PCM"}, "format"),
        ({"heartbeat": "maybe"}, "heartbeat"),
        ({"unknown_option": 1}, "unknown_option"),
        ({"samplerate": 16000}, "samplerate"),
        ({"vocabulary_id": 12}, "vocabulary_id"),
    ],
)
def test_invalid_values_raise_configuration_error_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RecognitionParams(**kwargs)
    assert isinstance(info.value, ValueError)
    assert field in str(info.value)


@pytest.mark.parametrize("value", [200, 1300, 6000])
def test_max_sentence_silence_bounds_are_inclusive(value: int) -> None:
    assert RecognitionParams(max_sentence_silence=value).to_parameters()["max_sentence_silence"] == value


@pytest.mark.parametrize("value", [-1.0, 0.0, 1.0])
def test_speech_noise_threshold_bounds_are_inclusive(value: float) -> None:
    assert RecognitionParams(speech_noise_threshold=value).speech_noise_threshold == value


def test_configuration_error_is_raised_not_pydantic_validation_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ConfigurationError) as info:
        RecognitionParams(max_sentence_silence=1)
    assert not isinstance(info.value, ValidationError)


def test_all_errors_are_reported_together() -> None:
    with pytest.raises(ConfigurationError) as info:
        RecognitionParams(max_sentence_silence=1, format="flac")
    assert "max_sentence_silence" in str(info.value)
    assert "format" in str(info.value)


@pytest.mark.parametrize("name", ["sample_rate", "format", "language_hints", "model", "phrase_id"])
def test_extra_shadowing_a_named_field_is_an_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        RecognitionParams(extra={name: "x"})


def test_params_are_immutable() -> None:
    params = RecognitionParams()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        params.sample_rate = 8000
    assert params.sample_rate == 16000


# --------------------------------------------------------------------------- replace


def test_replace_returns_a_changed_copy() -> None:
    base = RecognitionParams(language_hints=["en"], extra={"k": 1})
    changed = base.replace(sample_rate=8000, model="fun-asr-flash-8k-realtime")
    assert changed.sample_rate == 8000
    assert changed.model == "fun-asr-flash-8k-realtime"
    assert changed.language_hints == ("en",)
    assert changed.extra == {"k": 1}
    assert base.sample_rate == 16000
    assert base.model == "fun-asr-realtime"


def test_replace_can_clear_a_field() -> None:
    base = RecognitionParams(heartbeat=True)
    assert "heartbeat" not in base.replace(heartbeat=None).to_parameters()


def test_replace_validates() -> None:
    base = RecognitionParams()
    with pytest.raises(ConfigurationError, match="max_sentence_silence"):
        base.replace(max_sentence_silence=10)
    with pytest.raises(ConfigurationError, match="nonsense"):
        base.replace(nonsense=True)


def test_replace_without_changes_is_equal() -> None:
    base = RecognitionParams(vocabulary_id="vocab-x", extra={"a": [1]})
    assert base.replace() == base


# --------------------------------------------------------------------------- check_compatibility


def test_fun_asr_realtime_rejects_8k_and_names_16k() -> None:
    with pytest.raises(ConfigurationError, match="16000") as info:
        check_compatibility(RecognitionParams(model="fun-asr-realtime", sample_rate=8000), Region.INTL)
    assert "8000" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_fun_asr_realtime_at_16k_is_fine_in_both_regions() -> None:
    for region in Region:
        check_compatibility(RecognitionParams(model="fun-asr-realtime", sample_rate=16000), region)


def test_flash_8k_is_not_served_internationally() -> None:
    params = RecognitionParams(model="fun-asr-flash-8k-realtime", sample_rate=8000)
    with pytest.raises(ConfigurationError, match="region") as info:
        check_compatibility(params, Region.INTL)
    assert "intl" in str(info.value)
    check_compatibility(params, Region.CN)


def test_flash_8k_needs_8k_audio() -> None:
    with pytest.raises(ConfigurationError, match="8000"):
        check_compatibility(RecognitionParams(model="fun-asr-flash-8k-realtime", sample_rate=16000), Region.CN)


def test_unsupported_language_is_an_error() -> None:
    params = RecognitionParams(model="fun-asr-realtime", language_hints=["fr"])
    with pytest.raises(ConfigurationError, match="'fr'"):
        check_compatibility(params, Region.INTL)


def test_unsupported_language_after_the_first_is_an_error_too() -> None:
    with pytest.warns(UserWarning):
        params = RecognitionParams(model="fun-asr-realtime", language_hints=["en", "fr"])
    with pytest.raises(ConfigurationError, match="'fr'"):
        check_compatibility(params, Region.CN)


@pytest.mark.parametrize("language", ["zh", "en", "ja"])
def test_supported_languages(language: str) -> None:
    check_compatibility(RecognitionParams(model="fun-asr-realtime", language_hints=[language]), Region.INTL)


def test_flash_8k_is_chinese_only() -> None:
    params = RecognitionParams(model="fun-asr-flash-8k-realtime", sample_rate=8000, language_hints=["en"])
    with pytest.raises(ConfigurationError, match="'en'"):
        check_compatibility(params, Region.CN)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_paraformer_v2_accepts_any_rate_in_cn(rate: int) -> None:
    check_compatibility(RecognitionParams(model="paraformer-realtime-v2", sample_rate=rate), Region.CN)


def test_paraformer_v2_does_not_restrict_languages() -> None:
    check_compatibility(RecognitionParams(model="paraformer-realtime-v2", language_hints=["de"]), Region.CN)


def test_paraformer_v2_is_cn_only() -> None:
    with pytest.raises(ConfigurationError):
        check_compatibility(RecognitionParams(model="paraformer-realtime-v2"), Region.INTL)


def test_listed_snapshot_uses_its_own_row() -> None:
    spec = find_model("fun-asr-realtime-2025-11-07")
    assert spec is not None
    assert spec.name == "fun-asr-realtime-2025-11-07"
    check_compatibility(RecognitionParams(model="fun-asr-realtime-2025-11-07"), Region.INTL)
    with pytest.raises(ConfigurationError, match="16000"):
        check_compatibility(RecognitionParams(model="fun-asr-realtime-2025-11-07", sample_rate=8000), None)


def test_snapshot_that_differs_from_its_family() -> None:
    # -2025-09-15 is Beijing-only and has no Japanese, unlike the family row.
    with pytest.raises(ConfigurationError, match="region"):
        check_compatibility(RecognitionParams(model="fun-asr-realtime-2025-09-15"), Region.INTL)
    with pytest.raises(ConfigurationError, match="'ja'"):
        check_compatibility(RecognitionParams(model="fun-asr-realtime-2025-09-15", language_hints=["ja"]), Region.CN)


def test_unknown_dated_snapshot_resolves_to_its_family() -> None:
    spec = find_model("fun-asr-realtime-2099-01-01")
    assert spec is not None
    assert spec.name == "fun-asr-realtime"
    with pytest.raises(ConfigurationError, match="16000"):
        check_compatibility(RecognitionParams(model="fun-asr-realtime-2099-01-01", sample_rate=8000), Region.CN)


def test_flash_8k_dated_snapshot_resolves_to_its_family() -> None:
    spec = find_model("fun-asr-flash-8k-realtime-2026-01-28")
    assert spec is not None
    assert spec.name == "fun-asr-flash-8k-realtime"


def test_prefix_match_needs_a_dash() -> None:
    assert find_model("fun-asr-realtimeX") is None
    assert find_model("paraformer-realtime-v10") is None


@pytest.mark.parametrize("name", ["qwen3-asr-flash-realtime", "my-model", "", "FUN-ASR-REALTIME"])
def test_unknown_model_passes(name: str) -> None:
    assert find_model(name) is None
    check_compatibility(RecognitionParams(model=name, sample_rate=12345, language_hints=["xx"]), Region.INTL)


def test_region_none_skips_the_region_check() -> None:
    check_compatibility(RecognitionParams(model="fun-asr-flash-8k-realtime", sample_rate=8000), None)


def test_region_none_still_checks_rate_and_language() -> None:
    with pytest.raises(ConfigurationError):
        check_compatibility(RecognitionParams(model="fun-asr-flash-8k-realtime", sample_rate=16000), None)
    with pytest.raises(ConfigurationError):
        check_compatibility(
            RecognitionParams(model="fun-asr-flash-8k-realtime", sample_rate=8000, language_hints=["ja"]), None
        )


def test_every_model_row_is_self_consistent() -> None:
    names = [spec.name for spec in MODELS]
    assert len(names) == len(set(names))
    for spec in MODELS:
        assert find_model(spec.name) is spec
        assert spec.regions
        assert spec.regions <= set(Region)
        rate = 16000 if spec.sample_rates is None else min(spec.sample_rates)
        region = Region.CN if Region.CN in spec.regions else Region.INTL
        check_compatibility(RecognitionParams(model=spec.name, sample_rate=rate), region)


def test_intl_serves_only_the_documented_models() -> None:
    intl = {spec.name for spec in MODELS if Region.INTL in spec.regions}
    assert intl == {"fun-asr-realtime", "fun-asr-realtime-2025-11-07"}


# --------------------------------------------------------------------------- models.py: regions and URLs


def test_endpoints() -> None:
    assert ENDPOINTS[Region.INTL] == "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"
    assert ENDPOINTS[Region.CN] == "wss://dashscope.aliyuncs.com/api-ws/v1/inference"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference", Region.INTL),
        ("wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference/", Region.INTL),
        ("wss://DASHSCOPE-INTL.ALIYUNCS.COM/api-ws/v1/inference", Region.INTL),
        ("wss://dashscope-intl.aliyuncs.com:443/api-ws/v1/inference", Region.INTL),
        ("wss://dashscope.aliyuncs.com/api-ws/v1/inference", Region.CN),
        ("wss://ws-abc123.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/inference", Region.INTL),
        ("wss://ws-abc123.cn-beijing.maas.aliyuncs.com/api-ws/v1/inference", Region.CN),
        ("ws://localhost:8765/api-ws/v1/inference", None),
        ("ws://127.0.0.1:8765", None),
        ("ws://[::1]:8765/", None),
        ("wss://example.com/api-ws/v1/inference", None),
        ("wss://dashscope.aliyuncs.com.example.com/", None),
        ("wss://evil-dashscope.aliyuncs.com/", None),
        ("not a url", None),
        ("", None),
    ],
)
def test_region_of_url(url: str, region: Region | None) -> None:
    assert region_of_url(url) is region


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (Region.INTL, "wss://ws-1.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/inference"),
        (Region.CN, "wss://ws-1.cn-beijing.maas.aliyuncs.com/api-ws/v1/inference"),
    ],
)
def test_workspace_url(region: Region, expected: str) -> None:
    url = workspace_url("ws-1", region)
    assert url == expected
    assert region_of_url(url) is region


@pytest.mark.parametrize("region", list(Region))
def test_endpoints_map_back_to_their_region(region: Region) -> None:
    assert region_of_url(ENDPOINTS[region]) is region


def test_region_values() -> None:
    assert Region("intl") is Region.INTL
    assert Region("cn") is Region.CN
    assert str(Region.INTL) == "intl"
