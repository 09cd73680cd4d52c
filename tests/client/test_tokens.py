"""mint_temporary_key: the documented tokens route, through httpx (MockTransport for the
logic, one real loopback HTTP server for the wire). The local server has no tokens route yet."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import funasr_realtime as fr
from funasr_realtime._redact import redact

PARENT = "sk-" + "parent" + secrets.token_hex(8)  # built at run time: no key-shaped literal
LOCAL = "http://127.0.0.1:9/api/v1"  # never connected to: the MockTransport answers


def answering(status: int, body: object, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


async def test_mints_a_token_with_the_documented_request() -> None:
    seen: list[httpx.Request] = []
    token = "st-" + secrets.token_hex(16)
    transport = answering(200, {"token": token, "expires_at": 1_900_000_000}, seen)
    key = await fr.mint_temporary_key(PARENT, 120, http_url=LOCAL, workspace="ws1", transport=transport)
    assert key.token.get_secret_value() == token and key.expires_at == 1_900_000_000
    assert key.expires_in(1_899_999_940) == 60
    assert token not in repr(key), "the token never shows in a repr"
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/api/v1/tokens"
    assert request.url.params["expire_in_seconds"] == "120"
    assert request.headers["authorization"] == f"Bearer {PARENT}"
    assert request.headers["x-dashscope-workspace"] == "ws1"
    assert token not in redact(f"a server echoes {token}"), "a minted token is scrubbed like a key"


async def test_the_default_base_follows_the_region() -> None:
    seen: list[httpx.Request] = []
    transport = answering(200, {"token": "st-" + secrets.token_hex(16), "expires_at": 1}, seen)
    await fr.mint_temporary_key(PARENT, region="cn", transport=transport)
    assert str(seen[0].url).startswith("https://dashscope.aliyuncs.com/api/v1/tokens?")
    await fr.mint_temporary_key(PARENT, transport=transport)
    assert seen[1].url.host == "dashscope-intl.aliyuncs.com"


@pytest.mark.parametrize("seconds", [0, 1801, -5, 1.5, True, "60"])
async def test_the_lifetime_is_checked_before_sending(seconds: object) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(fr.ConfigurationError, match="1 to 1800"):
        await fr.mint_temporary_key(PARENT, seconds, http_url=LOCAL, transport=answering(200, {}, seen))  # type: ignore[arg-type]
    assert seen == []


@pytest.mark.parametrize("seconds", [1, 1800])
async def test_the_bounds_are_accepted(seconds: int) -> None:
    transport = answering(200, {"token": "st-" + secrets.token_hex(16), "expires_at": 5})
    assert (await fr.mint_temporary_key(PARENT, seconds, http_url=LOCAL, transport=transport)).expires_at == 5


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "InvalidApiKey", fr.ErrorKind.AUTHENTICATION),
        (429, "Throttling.RateQuota", fr.ErrorKind.RATE_LIMIT),
        (500, "SystemError", fr.ErrorKind.SERVER),
        (400, "Arrearage", fr.ErrorKind.BILLING),
        (403, "", fr.ErrorKind.PERMISSION),
    ],
)
async def test_refusals_are_typed_and_classified(status: int, code: str, kind: fr.ErrorKind) -> None:
    body = {"code": code, "message": f"refused, key {PARENT}", "request_id": "req-1"} if code else {}
    with pytest.raises(fr.ApiError) as caught:
        await fr.mint_temporary_key(PARENT, http_url=LOCAL, transport=answering(status, body))
    error = caught.value
    assert (error.status_code, error.code) == (status, code)
    assert fr.classify(error) is kind
    assert PARENT not in str(error), "an echoed key is redacted"


async def test_an_answer_without_a_token_is_a_protocol_error() -> None:
    with pytest.raises(fr.RemoteProtocolError):
        await fr.mint_temporary_key(PARENT, http_url=LOCAL, transport=answering(200, {"expires_at": 1}))


async def test_network_failures_are_the_cores_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused (Authorization: Bearer {PARENT})", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(fr.ConnectError) as caught:
        await fr.mint_temporary_key(PARENT, http_url=LOCAL, transport=httpx.MockTransport(refuse))
    assert PARENT not in str(caught.value) and caught.value.__cause__ is None
    with pytest.raises(fr.TransportTimeout):
        await fr.mint_temporary_key(PARENT, http_url=LOCAL, transport=httpx.MockTransport(slow))


async def test_plain_http_off_loopback_is_refused() -> None:
    with pytest.raises(fr.ConfigurationError, match="unencrypted"):
        await fr.mint_temporary_key(PARENT, http_url="http://example.com/api/v1", transport=answering(200, {}))


async def test_a_parent_key_is_required() -> None:
    with pytest.raises(fr.ConfigurationError, match="no API key"):
        await fr.mint_temporary_key(None, region="intl")


class _Tokens(BaseHTTPRequestHandler):
    """The documented route, and nothing else."""

    issued: ClassVar[list[tuple[str, int]]] = []

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        ttl = int(parse_qs(url.query)["expire_in_seconds"][0])
        if url.path != "/api/v1/tokens" or self.headers["Authorization"] != f"Bearer {PARENT}":
            self._send(401, {"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "r"})
            return
        token = "st-" + secrets.token_hex(16)
        self.issued.append((token, ttl))
        self._send(200, {"token": token, "expires_at": 1_700_000_000 + ttl})

    def _send(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tokens_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tokens)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()


async def test_against_a_real_loopback_http_server(tokens_server: str) -> None:
    key = await fr.mint_temporary_key(PARENT, 60, http_url=tokens_server)
    assert (key.token.get_secret_value(), 60) in _Tokens.issued
    assert key.expires_at == 1_700_000_060
    with pytest.raises(fr.ApiError) as caught:
        await fr.mint_temporary_key("sk-" + "wrong" + secrets.token_hex(8), http_url=tokens_server)
    assert caught.value.status_code == 401 and fr.classify(caught.value) is fr.ErrorKind.AUTHENTICATION


async def test_the_http_base_comes_from_the_environment(tokens_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", tokens_server)
    monkeypatch.setenv("DASHSCOPE_API_KEY", PARENT)
    key = await fr.mint_temporary_key()
    assert key.token.get_secret_value().startswith("st-")
