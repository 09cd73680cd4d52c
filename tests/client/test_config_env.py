"""ClientConfig.resolve reads the environment as the official SDK 2.0.2 names it: key, key
file, workspace and region (the conftest points the key file at an empty one by default)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

import funasr_realtime as fr
from funasr_realtime.client.config import REGION_NAMES

LOCAL = "ws://127.0.0.1:9/api-ws/v1/inference"


def fake_key(tag: str) -> str:
    return "sk-" + tag + secrets.token_hex(8)  # built at run time: no key-shaped literal


def key_of(config: fr.ClientConfig) -> str | None:
    return config.api_key.get_secret_value() if config.api_key else None


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own, and the SDK's default key file path in it (not the conftest's empty one)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DASHSCOPE_API_KEY_FILE_PATH")
    (tmp_path / ".dashscope").mkdir()
    return tmp_path


def test_key_precedence_argument_environment_file_path_default_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_file, other_file = home / ".dashscope" / "api_key", tmp_path / "other_key"
    keys = {name: fake_key(name) for name in ("arg", "env", "path", "default")}
    default_file.write_text(keys["default"] + "\n")
    assert key_of(fr.ClientConfig.resolve()) == keys["default"], "~/.dashscope/api_key, stripped"
    other_file.write_text("  " + keys["path"] + "  ")
    monkeypatch.setenv("DASHSCOPE_API_KEY_FILE_PATH", str(other_file))
    assert key_of(fr.ClientConfig.resolve()) == keys["path"], "the configured file before the default"
    monkeypatch.setenv("DASHSCOPE_API_KEY", keys["env"])
    assert key_of(fr.ClientConfig.resolve()) == keys["env"]
    assert key_of(fr.ClientConfig.resolve(api_key=keys["arg"])) == keys["arg"]


def test_a_configured_key_file_that_is_missing_is_no_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / ".dashscope" / "api_key").write_text(fake_key("default"))
    monkeypatch.setenv("DASHSCOPE_API_KEY_FILE_PATH", str(home / "missing"))
    # As the SDK: one file is read (the configured one); no fallback to the default file.
    with pytest.raises(fr.ConfigurationError, match="no API key"):
        fr.ClientConfig.resolve()
    assert fr.ClientConfig.resolve(url=LOCAL).api_key is None, "a local server needs none"


def test_an_explicit_key_file_argument_beats_the_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, theirs = home / "mine", home / "theirs"
    mine.write_text(key := fake_key("mine"))
    theirs.write_text(fake_key("theirs"))
    monkeypatch.setenv("DASHSCOPE_API_KEY_FILE_PATH", str(theirs))
    assert key_of(fr.ClientConfig.resolve(api_key_file=str(mine))) == key


@pytest.mark.parametrize("name", ["DASHSCOPE_WORKSPACE", "DASHSCOPE_WORKSPACE_ID"])
def test_workspace_from_the_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "ws123")
    config = fr.ClientConfig.resolve(api_key=fake_key("w"))
    assert config.workspace == "ws123"
    assert config.url == "wss://ws123.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/inference"
    assert config.handshake_headers()["X-DashScope-WorkSpace"] == "ws123"
    assert fr.ClientConfig.resolve(api_key=fake_key("w"), workspace="mine").workspace == "mine"


def test_the_sdk_2_workspace_name_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_WORKSPACE", "new")
    monkeypatch.setenv("DASHSCOPE_WORKSPACE_ID", "old")
    assert fr.ClientConfig.resolve(api_key=fake_key("w")).workspace == "new"


@pytest.mark.parametrize("name", ["DASHSCOPE_REGION", "DASHSCOPE_API_REGION"])
@pytest.mark.parametrize(
    ("value", "region", "url"),
    [
        ("cn-beijing", fr.Region.CN, "wss://dashscope.aliyuncs.com/api-ws/v1/inference"),
        ("ap-southeast-1", fr.Region.INTL, "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"),
        ("cn", fr.Region.CN, "wss://dashscope.aliyuncs.com/api-ws/v1/inference"),
    ],
)
def test_region_from_the_environment(
    name: str, value: str, region: fr.Region, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    config = fr.ClientConfig.resolve(api_key=fake_key("r"))
    assert (config.region, config.url) == (region, url)


def test_the_sdk_2_region_name_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_REGION", "cn-beijing")
    monkeypatch.setenv("DASHSCOPE_API_REGION", "ap-southeast-1")
    assert fr.ClientConfig.resolve(api_key=fake_key("r")).region is fr.Region.CN


def test_an_sdk_region_without_fun_asr_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_REGION", "us-east-1")
    with pytest.raises(fr.ConfigurationError, match=r"\$DASHSCOPE_REGION='us-east-1'"):
        fr.ClientConfig.resolve(api_key=fake_key("r"))
    # An explicit URL or region decides the endpoint: the variable is not consulted then.
    assert fr.ClientConfig.resolve(url=LOCAL).url == LOCAL
    assert fr.ClientConfig.resolve(api_key=fake_key("r"), region="cn").region is fr.Region.CN


def test_the_region_argument_takes_the_sdk_names_too() -> None:
    assert fr.ClientConfig.resolve(api_key=fake_key("r"), region="cn-beijing").region is fr.Region.CN
    assert set(REGION_NAMES) == {"ap-southeast-1", "cn-beijing", "intl", "cn"}


def test_the_http_base(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fr.ClientConfig.resolve(api_key=fake_key("h")).http_url == "https://dashscope-intl.aliyuncs.com/api/v1"
    assert fr.ClientConfig.resolve(url=LOCAL).http_url == "http://127.0.0.1:9/api/v1"
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", "http://127.0.0.1:7/api/v1")
    assert fr.ClientConfig.resolve(url=LOCAL).http_url == "http://127.0.0.1:7/api/v1"
