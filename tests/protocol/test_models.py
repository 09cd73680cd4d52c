"""Which sample rate to send a model: default_sample_rate, accepts_sample_rate, choose_sample_rate.

The one rule the CLI (``transcribe``, ``mic``) and both adapters apply; expected rates are
written out from docs/PROTOCOL.md §8 rather than derived from the table.
"""

from __future__ import annotations

import pytest

import funasr_realtime
from funasr_realtime.protocol import (
    MODELS,
    ModelSpec,
    RecognitionParams,
    Region,
    accepts_sample_rate,
    check_compatibility,
    choose_sample_rate,
    default_sample_rate,
)

UNKNOWN = ["qwen3-asr-flash-realtime", "a-future-model", "", "FUN-ASR-REALTIME", "fun-asr-realtimeX"]


@pytest.mark.parametrize(
    ("model", "rate"),
    [
        ("fun-asr-realtime", 16000),
        ("fun-asr-realtime-2025-11-07", 16000),
        ("fun-asr-realtime-2025-09-15", 16000),
        ("fun-asr-realtime-2026-02-28", 16000),
        ("fun-asr-realtime-2099-01-01", 16000),  # unlisted snapshot: its family's row
        ("fun-asr-flash-8k-realtime", 8000),
        ("fun-asr-flash-8k-realtime-2026-01-28", 8000),
        ("paraformer-realtime-8k-v2", 8000),
        ("paraformer-realtime-8k-v1", 8000),
        ("paraformer-realtime-v2", 16000),  # any rate: the service default
        ("paraformer-realtime-v1", 16000),
        *((name, 16000) for name in UNKNOWN),
    ],
)
def test_default_sample_rate(model: str, rate: int) -> None:
    assert default_sample_rate(model) == rate


@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.name)
def test_every_model_accepts_its_default_rate(spec: ModelSpec) -> None:
    rate = default_sample_rate(spec.name)
    assert accepts_sample_rate(spec.name, rate)
    region = Region.CN if Region.CN in spec.regions else Region.INTL
    check_compatibility(RecognitionParams(model=spec.name, sample_rate=rate), region)


@pytest.mark.parametrize(
    ("model", "rate", "accepted"),
    [
        ("fun-asr-realtime", 16000, True),
        ("fun-asr-realtime", 8000, False),
        ("fun-asr-realtime", 48000, False),
        ("fun-asr-realtime-2099-01-01", 44100, False),
        ("fun-asr-flash-8k-realtime", 8000, True),
        ("fun-asr-flash-8k-realtime", 16000, False),
        ("paraformer-realtime-8k-v1", 8000, True),
        ("paraformer-realtime-v2", 44100, True),  # any rate
        ("paraformer-realtime-v2", 8000, True),
        ("paraformer-realtime-v1", 8000, False),
        ("a-future-model", 16000, True),  # unknown: only the default is a safe guess
        ("a-future-model", 48000, False),
        ("a-future-model", 8000, False),
    ],
)
def test_accepts_sample_rate(model: str, rate: int, accepted: bool) -> None:
    assert accepts_sample_rate(model, rate) is accepted


@pytest.mark.parametrize(
    ("model", "explicit", "native", "rate"),
    [
        # Nothing given: the model's default.
        ("fun-asr-realtime", None, None, 16000),
        ("fun-asr-flash-8k-realtime", None, None, 8000),
        ("paraformer-realtime-v2", None, None, 16000),
        ("a-future-model", None, None, 16000),
        # The audio's own rate, kept when the model takes it...
        ("paraformer-realtime-v2", None, 44100, 44100),
        ("fun-asr-flash-8k-realtime", None, 8000, 8000),
        ("fun-asr-realtime", None, 16000, 16000),
        # ...else the model's default (the audio is resampled).
        ("fun-asr-realtime", None, 48000, 16000),
        ("fun-asr-flash-8k-realtime", None, 16000, 8000),
        ("fun-asr-flash-8k-realtime-2026-01-28", None, 48000, 8000),
        ("a-future-model", None, 48000, 16000),
        # An explicit rate wins, unchecked (check_compatibility rejects what the model refuses).
        ("fun-asr-realtime", 8000, 16000, 8000),
        ("paraformer-realtime-v2", 22050, 44100, 22050),
        ("a-future-model", 48000, None, 48000),
        # 0 means "not given", for both.
        ("fun-asr-flash-8k-realtime", 0, 0, 8000),
        ("paraformer-realtime-v2", 0, 24000, 24000),
    ],
)
def test_choose_sample_rate(model: str, explicit: int | None, native: int | None, rate: int) -> None:
    assert choose_sample_rate(model, explicit=explicit, native=native) == rate


def test_choose_sample_rate_defaults_to_nothing_given() -> None:
    assert choose_sample_rate("fun-asr-flash-8k-realtime") == 8000


def test_the_rule_is_exported_at_the_top_level() -> None:
    assert funasr_realtime.default_sample_rate is default_sample_rate
    assert funasr_realtime.accepts_sample_rate is accepts_sample_rate
    assert funasr_realtime.choose_sample_rate is choose_sample_rate


@pytest.mark.parametrize(
    ("model", "feature", "offered"),
    [
        ("fun-asr-realtime", "context", True),  # UNVERIFIED: sent, with a warning
        ("fun-asr-realtime", "hotwords", True),
        ("paraformer-realtime-v2", "context", False),
        ("paraformer-realtime-v1", "hotwords", False),
        ("paraformer-realtime-v1-2024", "hotwords", False),  # a family member, by prefix
        ("some-future-model", "context", True),  # unknown: not refused
    ],
)
def test_model_offers_refuses_only_what_the_table_says_a_model_lacks(model: str, feature: str, offered: bool) -> None:
    assert funasr_realtime.model_offers(model, feature) is offered  # type: ignore[arg-type]
