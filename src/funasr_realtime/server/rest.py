"""DashScope's HTTP API, as the local server serves it under ``http://HOST:PORT/api/v1``.

Two routes, both ``POST``, both with the same ``Authorization: Bearer`` key as the WebSocket:

* ``/api/v1/services/audio/asr/customization``: hot-word vocabularies. The body is
  ``{"model": "speech-biasing", "input": {"action": ..., ...}}`` with the actions
  ``create_vocabulary``, ``list_vocabulary``, ``query_vocabulary``, ``update_vocabulary`` and
  ``delete_vocabulary``, as the official SDK's ``VocabularyService`` sends them (it works
  against this server with ``dashscope.base_http_api_url`` pointed here).
* ``/api/v1/tokens?expire_in_seconds=N``: a temporary key (``st-...``, 1 to 1800 s, default
  60), accepted by both sides of this server until it expires and refused (401
  ``InvalidApiKey``) after. A temporary key cannot mint another.

Answers have the service's shape: ``{"request_id", "output", "usage"}``, or on failure an
HTTP status with ``{"request_id", "code", "message"}``.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import SecretStr

from .._redact import register_secret
from ..protocol import ConfigurationError
from ..protocol.vocabulary import VOCABULARY_MODEL, check_prefix, hot_words
from .config import INFERENCE_PATH
from .http import HttpRequest, HttpResponse, bearer_token
from .vocabularies import StoredVocabulary, VocabularyStore

__all__ = ["API_PATH", "CUSTOMIZATION_PATH", "TOKENS_PATH", "RestApi", "TokenStore"]

API_PATH = "/api/v1"
CUSTOMIZATION_PATH = API_PATH + "/services/audio/asr/customization"
TOKENS_PATH = API_PATH + "/tokens"
_MAX_TOKEN_SECONDS = 1800
_MAX_PAGE_SIZE = 100


class _Refused(Exception):
    """A request the route refuses: its HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class TokenStore:
    """Temporary keys this server minted, until they expire (``clock`` is wall time, as ``expires_at`` is)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[float, SecretStr]] = {}  # token -> (expires at, its scrubbed secret)
        self._lock = threading.Lock()

    def mint(self, seconds: int) -> tuple[str, int]:
        """A new token valid for ``seconds``, and its expiry (Unix seconds)."""
        token = "st-" + secrets.token_hex(16)
        expires_at = int(self._clock()) + seconds
        secret = SecretStr(token)
        register_secret(secret)  # scrubbed from every log record while this store holds it
        with self._lock:
            self._purge()
            self._tokens[token] = (expires_at, secret)
        return token, expires_at

    def accepts(self, token: str) -> bool:
        with self._lock:
            entry = self._tokens.get(token)
        return entry is not None and self._clock() < entry[0]

    def is_temporary(self, token: str) -> bool:
        return token.startswith("st-")

    def _purge(self) -> None:
        now = self._clock()
        for token in [t for t, (at, _) in self._tokens.items() if at <= now - 60]:
            del self._tokens[token]


class RestApi:
    """Answers the HTTP requests of :mod:`.http` (see the module docstring).

    ``authorized(token)`` says whether a bearer token is accepted: the server's key, one
    ``ServerConfig.accept_key`` accepts, or a live token of :attr:`tokens` (the same check as
    the WebSocket handshake's).
    """

    def __init__(self, vocabularies: VocabularyStore, tokens: TokenStore, authorized: Callable[[str], bool]) -> None:
        self.vocabularies = vocabularies
        self.tokens = tokens
        self._authorized = authorized

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        try:
            output = self._route(request)
        except _Refused as refused:
            body = {"request_id": request_id, "code": refused.code, "message": refused.message}
            return HttpResponse(refused.status, body)
        return HttpResponse(200, {"request_id": request_id, **output})

    def _route(self, request: HttpRequest) -> dict[str, Any]:
        path = request.path.rstrip("/")
        if path == INFERENCE_PATH:
            raise _Refused(405, "MethodNotAllowed", "Open the WebSocket with GET.")
        if path not in (CUSTOMIZATION_PATH, TOKENS_PATH):
            raise _Refused(404, "NotFound", "Not found!")
        if request.method != "POST":
            raise _Refused(405, "MethodNotAllowed", f"{request.method} is not allowed here; use POST")
        token = self._bearer(request)
        if path == TOKENS_PATH:
            if self.tokens.is_temporary(token):
                raise _Refused(401, "InvalidApiKey", "A temporary API key cannot create another.")
            return self._mint(request.query)
        return self._customize(request)

    def _bearer(self, request: HttpRequest) -> str:
        values = request.header_values("authorization")
        if not values and self._authorized(""):  # a server without a key needs none, as on the WebSocket
            return ""
        token = bearer_token(values)
        if token is None or not self._authorized(token):  # the server's key, or a live token it minted
            raise _Refused(401, "InvalidApiKey", "Invalid API-key provided.")
        return token

    def _mint(self, query: Mapping[str, str]) -> dict[str, Any]:
        raw = query.get("expire_in_seconds", "60")
        if not raw.isdigit() or not 1 <= int(raw) <= _MAX_TOKEN_SECONDS:
            raise _Refused(400, "InvalidParameter", f"expire_in_seconds must be 1 to {_MAX_TOKEN_SECONDS}")
        token, expires_at = self.tokens.mint(int(raw))
        return {"token": token, "expires_at": expires_at}

    def _customize(self, request: HttpRequest) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError:
            raise _Refused(400, "InvalidParameter", "The request body is not JSON.") from None
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            raise _Refused(400, "InvalidParameter", "Missing input.")
        if body.get("model", VOCABULARY_MODEL) != VOCABULARY_MODEL:
            raise _Refused(400, "InvalidParameter", f"model must be {VOCABULARY_MODEL!r}")
        fields: dict[str, Any] = body["input"]
        action = fields.get("action")
        handler = _ACTIONS.get(action) if isinstance(action, str) else None
        if handler is None:
            raise _Refused(400, "InvalidParameter", f"Unknown action: {action!r}")
        try:
            output = handler(self.vocabularies, fields)
        except ConfigurationError as exc:
            raise _Refused(400, "InvalidParameter", str(exc)) from None
        return {"output": output, "usage": {"count": 1}}


def _create(store: VocabularyStore, fields: dict[str, Any]) -> dict[str, Any]:
    target_model = fields.get("target_model")
    if not isinstance(target_model, str) or not target_model:
        raise ConfigurationError("target_model is required")
    prefix = check_prefix(fields.get("prefix"))
    words = hot_words(_items(fields))
    return {"vocabulary_id": store.create(target_model, prefix, words).vocabulary_id}


def _list(store: VocabularyStore, fields: dict[str, Any]) -> dict[str, Any]:
    prefix = fields.get("prefix")
    page_index, page_size = fields.get("page_index", 0), fields.get("page_size", 10)
    if not _is_int(page_index) or page_index < 0 or not _is_int(page_size) or not 1 <= page_size <= _MAX_PAGE_SIZE:
        raise ConfigurationError(f"page_index must be 0 or more and page_size 1 to {_MAX_PAGE_SIZE}")
    page = store.page(prefix if prefix else None, page_index, page_size)
    return {"vocabulary_list": [vocabulary.summary() for vocabulary in page]}


def _query(store: VocabularyStore, fields: dict[str, Any]) -> dict[str, Any]:
    return _existing(store, fields).details()


def _update(store: VocabularyStore, fields: dict[str, Any]) -> dict[str, Any]:
    vocabulary = _existing(store, fields)
    store.update(vocabulary.vocabulary_id, hot_words(_items(fields)))
    return {}


def _delete(store: VocabularyStore, fields: dict[str, Any]) -> dict[str, Any]:
    store.delete(_existing(store, fields).vocabulary_id)
    return {}


def _existing(store: VocabularyStore, fields: dict[str, Any]) -> StoredVocabulary:
    vocabulary_id = fields.get("vocabulary_id")
    vocabulary = store.get(vocabulary_id) if isinstance(vocabulary_id, str) else None
    if vocabulary is None:
        raise _Refused(404, "NotFound", f"Vocabulary not found: {vocabulary_id!r}")
    return vocabulary


def _items(fields: dict[str, Any]) -> list[Any]:
    items = fields.get("vocabulary")
    if not isinstance(items, list):
        raise ConfigurationError("vocabulary must be a list of {'text', 'weight', 'lang'} items")
    return items


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_ACTIONS: dict[str, Callable[[VocabularyStore, dict[str, Any]], dict[str, Any]]] = {
    "create_vocabulary": _create,
    "list_vocabulary": _list,
    "query_vocabulary": _query,
    "update_vocabulary": _update,
    "delete_vocabulary": _delete,
}
