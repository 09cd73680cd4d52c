"""compat's SDK settings: set_region, base_http_api_url, api_key_file_path."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

import funasr_realtime.compat as dashscope
from funasr_realtime import ConfigurationError
from funasr_realtime.compat._options import build_config


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    saved = {
        n: getattr(dashscope, n)
        for n in ("api_key", "api_key_file_path", "base_websocket_api_url", "base_http_api_url")
    }
    yield
    for name, value in saved.items():
        setattr(dashscope, name, value)


@pytest.mark.parametrize("region", ["ap-southeast-1", "cn-beijing"])
def test_set_region_points_both_urls_at_the_workspace_host(region: str) -> None:
    dashscope.set_region(region, "ws42")
    assert dashscope.base_websocket_api_url == f"wss://ws42.{region}.maas.aliyuncs.com/api-ws/v1/inference"
    assert dashscope.base_http_api_url == f"https://ws42.{region}.maas.aliyuncs.com/api/v1"
    config = build_config({"api_key": "sk-" + secrets.token_hex(8)})
    assert config.url == dashscope.base_websocket_api_url and config.http_url == dashscope.base_http_api_url


@pytest.mark.parametrize(
    ("region", "workspace", "message"),
    [
        ("us-east-1", "ws", "Unsupported region"),
        ("mars", "ws", "Unsupported region"),
        ("cn-beijing", None, "workspace_id is required"),
        ("cn-beijing", "bad/host", "Invalid workspace_id"),
    ],
)
def test_set_region_refuses_what_the_sdk_refuses(region: str, workspace: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dashscope.set_region(region, workspace)
    assert dashscope.base_websocket_api_url is None


def test_the_key_file_path_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-" + "file" + secrets.token_hex(8)
    (tmp_path / "key").write_text(key + "\n")
    dashscope.api_key_file_path = str(tmp_path / "key")
    assert build_config({}).api_key.get_secret_value() == key  # type: ignore[union-attr]
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-" + "env" + secrets.token_hex(8))
    assert build_config({}).api_key.get_secret_value() != key, "the SDK's order: the key before the file"  # type: ignore[union-attr]


def test_no_key_keeps_the_compat_message() -> None:
    with pytest.raises(ConfigurationError, match="No API key provided"):
        build_config({})


def test_an_api_key_provider_is_accepted() -> None:
    dashscope.api_key = lambda: "st-" + secrets.token_hex(16)
    config = build_config({})
    assert config.key_provider is not None and config.api_key is None
