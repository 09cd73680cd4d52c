"""The plugin's packaging, options and error mapping (no network)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from livekit.agents import Plugin
from livekit.plugins import funasr_realtime

LOCAL = "ws://127.0.0.1:9/api-ws/v1/inference"  # never connected to in these tests


def test_namespace_package_registered_as_a_livekit_plugin() -> None:
    package = Path(funasr_realtime.__file__).parent
    assert package.parts[-3:] == ("livekit", "plugins", "funasr_realtime")
    assert not (package.parent / "__init__.py").exists(), "livekit.plugins stays a namespace package"
    assert not (package.parent.parent / "__init__.py").exists()
    assert not (package.parent / "aliyun").exists(), "never collides with livekit.plugins.aliyun"
    [plugin] = [p for p in Plugin.registered_plugins if p.package == "livekit.plugins.funasr_realtime"]
    assert plugin.version == funasr_realtime.__version__
    assert plugin.logger is not None and plugin.logger.name == "livekit.plugins.funasr_realtime"


def test_capabilities_and_defaults() -> None:
    plugin = funasr_realtime.STT(url=LOCAL)
    caps = plugin.capabilities
    assert (caps.streaming, caps.interim_results, caps.manual_flush, caps.aligned_transcript) == (
        True,
        True,
        True,
        "word",
    )
    assert (plugin.model, plugin.provider, plugin.sample_rate) == ("fun-asr-realtime", "DashScope", 16000)


def test_options_are_validated_against_the_model_table(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="no API key"):
        funasr_realtime.STT()  # the Singapore endpoint needs a key
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
    assert funasr_realtime.STT().model == "fun-asr-realtime"
    with pytest.raises(ValueError, match="not served in region 'intl'"):
        funasr_realtime.STT(model="fun-asr-flash-8k-realtime")
    eight_k = funasr_realtime.STT(model="fun-asr-flash-8k-realtime", region="cn")
    assert eight_k.sample_rate == 8000, "the model's own rate by default"
    with pytest.raises(ValueError, match="accepts 16000 Hz"):
        funasr_realtime.STT(url=LOCAL, sample_rate=48000)
    with pytest.raises(ValueError, match="does not support language 'fr'"):
        funasr_realtime.STT(url=LOCAL, language="fr-FR")
    with pytest.raises(ValueError, match="max_sentence_silence"):
        funasr_realtime.STT(url=LOCAL, max_sentence_silence=50)
    with pytest.raises(ValueError, match="endpointing"):
        funasr_realtime.STT(url=LOCAL, endpointing="vad")  # type: ignore[arg-type]


def test_update_options_follows_the_model_rate_and_rejects_bad_values() -> None:
    plugin = funasr_realtime.STT(url=LOCAL, language="zh-CN")
    plugin.update_options(model="paraformer-realtime-8k-v2", language=None)
    assert (plugin.model, plugin.sample_rate) == ("paraformer-realtime-8k-v2", 8000)
    with pytest.raises(ValueError, match="speech_noise_threshold"):
        plugin.update_options(speech_noise_threshold=3.0)
    assert plugin.model == "paraformer-realtime-8k-v2", "a rejected update changes nothing"


async def test_prewarm_outside_a_loop_is_a_no_op_and_aclose_releases_it() -> None:
    plugin = funasr_realtime.STT(url=LOCAL)
    await asyncio.to_thread(plugin.prewarm)  # no running loop in that thread
    plugin.prewarm()  # ws://127.0.0.1:9 refuses: logged, not raised
    await asyncio.sleep(0.05)
    await plugin.aclose()
