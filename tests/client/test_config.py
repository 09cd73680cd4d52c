"""ClientConfig.resolve: where the URL, key and region come from, what it refuses, what it sends.

Every case runs without a network: resolve only reads its arguments and the environment
(the autouse fixture in tests/conftest.py clears ``DASHSCOPE_API_KEY`` and
``DASHSCOPE_WEBSOCKET_BASE_URL`` first).
"""

from __future__ import annotations

import pytest

from funasr_realtime import ClientConfig, ConfigurationError, Region, Timeouts
from funasr_realtime.protocol import ENDPOINTS

# Built at run time: a fake key, but no key-shaped literal belongs in a commit.
KEY = "sk-" + "config" + "0123456789abcdef"
CN_URL = ENDPOINTS[Region.CN]
INTL_URL = ENDPOINTS[Region.INTL]
CN_WORKSPACE = "wss://ws-1.cn-beijing.maas.aliyuncs.com/api-ws/v1/inference"
LOCAL = "ws://127.0.0.1:8765/api-ws/v1/inference"

# --------------------------------------------------------------------------- the URL and region


def test_the_default_is_the_international_endpoint() -> None:
    config = ClientConfig.resolve(api_key=KEY)
    assert config.url == INTL_URL
    assert config.region is Region.INTL


@pytest.mark.parametrize(("region", "url"), [(Region.CN, CN_URL), ("cn", CN_URL), (Region.INTL, INTL_URL)])
def test_a_region_picks_its_public_endpoint(region: Region | str, url: str) -> None:
    config = ClientConfig.resolve(api_key=KEY, region=region)
    assert config.url == url
    assert config.region is Region(region)


def test_the_url_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_WEBSOCKET_BASE_URL", CN_URL)
    assert ClientConfig.resolve(api_key=KEY, url=INTL_URL).url == INTL_URL
    assert ClientConfig.resolve(api_key=KEY).url == CN_URL


def test_the_environment_url_wins_over_workspace_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_WEBSOCKET_BASE_URL", LOCAL)
    config = ClientConfig.resolve(workspace="ws-1")
    assert config.url == LOCAL
    assert config.workspace == "ws-1", "the workspace header is still sent"


def test_the_region_comes_from_the_url_when_not_given() -> None:
    assert ClientConfig.resolve(api_key=KEY, url=CN_URL).region is Region.CN
    assert ClientConfig.resolve(api_key=KEY, url=CN_WORKSPACE).region is Region.CN
    assert ClientConfig.resolve(url=LOCAL).region is None, "a local server belongs to no region"


def test_a_region_given_with_a_local_url_is_kept() -> None:
    config = ClientConfig.resolve(url=LOCAL, region=Region.CN)
    assert config.url == LOCAL
    assert config.region is Region.CN


@pytest.mark.parametrize(
    ("region", "url", "fragment"),
    [
        (Region.INTL, CN_URL, "region 'intl' does not match the URL's region 'cn'"),
        (Region.CN, INTL_URL, "region 'cn' does not match the URL's region 'intl'"),
        (Region.INTL, CN_WORKSPACE, "does not match the URL's region 'cn'"),
    ],
)
def test_a_region_that_contradicts_the_url_is_refused(region: Region, url: str, fragment: str) -> None:
    # A key works in one region only: a contradiction would fail later, at the handshake.
    with pytest.raises(ConfigurationError, match=fragment):
        ClientConfig.resolve(api_key=KEY, url=url, region=region)


def test_a_region_that_contradicts_the_environment_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_WEBSOCKET_BASE_URL", CN_URL)
    with pytest.raises(ConfigurationError, match="does not match"):
        ClientConfig.resolve(api_key=KEY, region=Region.INTL)


def test_an_unknown_region_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="mars"):
        ClientConfig.resolve(api_key=KEY, region="mars")


# --------------------------------------------------------------------------- credentials in the URL


@pytest.mark.parametrize(
    "url",
    [
        "wss://user:secret@dashscope-intl.aliyuncs.com/api-ws/v1/inference",
        "wss://user@dashscope-intl.aliyuncs.com/api-ws/v1/inference",
        "wss://:secret@dashscope-intl.aliyuncs.com/api-ws/v1/inference",
        "ws://user:secret@127.0.0.1:8765/api-ws/v1/inference",
    ],
)
def test_credentials_in_the_url_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="credentials in the URL are not supported; pass api_key=") as info:
        ClientConfig.resolve(api_key=KEY, url=url)
    assert "secret" not in str(info.value), "the error does not repeat what it refuses"


def test_credentials_in_the_environment_url_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_WEBSOCKET_BASE_URL", "wss://user:secret@dashscope.aliyuncs.com/api-ws/v1/inference")
    with pytest.raises(ConfigurationError, match="credentials in the URL"):
        ClientConfig.resolve(api_key=KEY)


@pytest.mark.parametrize("url", ["https://dashscope-intl.aliyuncs.com/api-ws/v1/inference", "wss://", "inference"])
def test_what_is_not_a_websocket_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a WebSocket URL"):
        ClientConfig.resolve(api_key=KEY, url=url)


# --------------------------------------------------------------------------- the key


def test_the_key_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-" + "from-environment")
    config = ClientConfig.resolve(api_key=KEY)
    assert config.api_key is not None and config.api_key.get_secret_value() == KEY
    from_env = ClientConfig.resolve()
    assert from_env.api_key is not None and from_env.api_key.get_secret_value() == "sk-" + "from-environment"


def test_an_alibaba_cloud_url_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"no API key: pass api_key= or set \$DASHSCOPE_API_KEY"):
        ClientConfig.resolve()
    with pytest.raises(ConfigurationError, match="no API key"):
        ClientConfig.resolve(workspace="ws-1", api_key="")


def test_a_local_server_needs_no_key() -> None:
    config = ClientConfig.resolve(url=LOCAL)
    assert config.api_key is None
    assert "Authorization" not in config.handshake_headers()


def test_the_key_never_shows_in_a_repr() -> None:
    config = ClientConfig.resolve(api_key=KEY)
    assert KEY not in repr(config)
    assert KEY not in str(config)


# --------------------------------------------------------------------------- workspace and data inspection


@pytest.mark.parametrize(
    ("region", "host"),
    [
        (None, "ws-1.ap-southeast-1.maas.aliyuncs.com"),
        (Region.INTL, "ws-1.ap-southeast-1.maas.aliyuncs.com"),
        (Region.CN, "ws-1.cn-beijing.maas.aliyuncs.com"),
    ],
)
def test_a_workspace_picks_its_own_host(region: Region | None, host: str) -> None:
    config = ClientConfig.resolve(api_key=KEY, workspace="ws-1", region=region)
    assert config.url == f"wss://{host}/api-ws/v1/inference"
    assert config.region is (region or Region.INTL)
    assert config.workspace == "ws-1"


def test_the_workspace_header() -> None:
    headers = ClientConfig.resolve(api_key=KEY, workspace="ws-1").handshake_headers()
    assert headers["X-DashScope-WorkSpace"] == "ws-1"
    assert headers["Authorization"] == f"Bearer {KEY}"


def test_a_workspace_with_an_explicit_url_keeps_the_url_and_sends_the_header() -> None:
    config = ClientConfig.resolve(api_key=KEY, workspace="ws-1", url=INTL_URL)
    assert config.url == INTL_URL
    assert config.handshake_headers()["X-DashScope-WorkSpace"] == "ws-1"


def test_no_workspace_no_header() -> None:
    headers = ClientConfig.resolve(api_key=KEY).handshake_headers()
    assert "X-DashScope-WorkSpace" not in headers


def test_the_data_inspection_header_only_when_asked() -> None:
    assert "X-DashScope-DataInspection" not in ClientConfig.resolve(api_key=KEY).handshake_headers()
    headers = ClientConfig.resolve(api_key=KEY, data_inspection=True).handshake_headers()
    assert headers["X-DashScope-DataInspection"] == "enable"


def test_every_handshake_header_together() -> None:
    config = ClientConfig.resolve(
        api_key=KEY, workspace="ws-1", data_inspection=True, headers={"user-agent": "agent/1", "x-trace": "t-1"}
    )
    headers = config.handshake_headers()
    assert headers["x-dashscope-sdk-client"].startswith("funasr-realtime/")
    assert headers["user-agent"] == "agent/1" and headers["x-trace"] == "t-1"
    assert set(headers) == {
        "x-dashscope-sdk-client",
        "user-agent",
        "x-trace",
        "Authorization",
        "X-DashScope-WorkSpace",
        "X-DashScope-DataInspection",
    }


def test_extra_headers_cannot_replace_the_key_or_workspace() -> None:
    # The resolved credentials are what authenticates, whatever a headers= mapping says.
    config = ClientConfig.resolve(
        api_key=KEY, workspace="ws-1", headers={"Authorization": "Bearer other", "X-DashScope-WorkSpace": "ws-2"}
    )
    headers = config.handshake_headers()
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["X-DashScope-WorkSpace"] == "ws-1"


def test_headers_are_copied_not_shared() -> None:
    extra = {"x-trace": "t-1"}
    config = ClientConfig.resolve(api_key=KEY, headers=extra)
    extra["x-trace"] = "changed"
    assert config.handshake_headers()["x-trace"] == "t-1"


# --------------------------------------------------------------------------- transport security and the rest


def test_plain_ws_is_for_loopback_only() -> None:
    assert ClientConfig.resolve(url=LOCAL).url == LOCAL
    assert ClientConfig.resolve(url="ws://localhost:8765/api-ws/v1/inference").region is None
    with pytest.raises(ConfigurationError, match=r"refusing unencrypted ws:// to example\.com"):
        ClientConfig.resolve(url="ws://example.com/api-ws/v1/inference")


def test_plain_ws_elsewhere_is_an_opt_in_that_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    config = ClientConfig.resolve(url="ws://example.com/api-ws/v1/inference", allow_insecure=True)
    assert config.url.startswith("ws://example.com")
    assert "without TLS" in caplog.text


def test_timeouts_default_and_pass_through() -> None:
    assert ClientConfig.resolve(url=LOCAL).timeouts == Timeouts()
    fast = Timeouts(connect=1.0)
    assert ClientConfig.resolve(url=LOCAL, timeouts=fast).timeouts is fast
