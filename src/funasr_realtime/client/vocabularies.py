"""Hot-word vocabularies, managed through the service's customization API.

The API, as documented (Model Studio, "Custom hot words"; the official SDK 2.0.2's
``VocabularyService`` speaks it; not verified against a live key here): ``POST {http
base}/services/audio/asr/customization`` with ``{"model": "speech-biasing", "input":
{"action": ..., ...}, "parameters": {}}``, the actions ``create_vocabulary``,
``list_vocabulary``, ``query_vocabulary``, ``update_vocabulary`` and ``delete_vocabulary``.
Same key, workspace and region as the WebSocket; the HTTP base is derived from its URL
(``wss://host/api-ws/v1/inference`` -> ``https://host/api/v1``) unless given. A vocabulary
is used by naming its id in a stream (``client.stream(vocabulary_id=...)``)::

    vocabularies = client.vocabularies
    vocabulary_id = await vocabularies.ensure("fun-asr-realtime", ["Fun-ASR", {"text": "阿里云", "weight": 5}])

:meth:`Vocabularies.ensure` reuses a vocabulary with the same content (found by a content
hash used as its prefix), so a program that starts again never creates a duplicate.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..protocol import (
    ApiError,
    ConfigurationError,
    ConnectError,
    RemoteProtocolError,
    TransportTimeout,
    model_offers,
)
from ..protocol.vocabulary import VOCABULARY_MODEL, HotWord, check_prefix, content_hash, hot_words
from ._http import api_headers, check_http_url, post, service_answer
from .config import ClientConfig

if TYPE_CHECKING:
    import httpx

__all__ = ["CUSTOMIZATION_ROUTE", "HotWords", "Vocabularies", "Vocabulary", "VocabularyEntry"]

#: The route under the HTTP base.
CUSTOMIZATION_ROUTE = "/services/audio/asr/customization"
#: What the item arguments take: hot words, their dicts (``text``, ``weight``, ``lang``) or plain strings.
HotWords = Iterable[HotWord | Mapping[str, Any] | str]
_PAGE_SIZE = 100  # the largest page the documentation shows; used when walking every page
_READ_ONLY = frozenset({"list_vocabulary", "query_vocabulary"})


@dataclass(frozen=True, slots=True)
class VocabularyEntry:
    """One entry of a list: the id, ``status`` (``"OK"`` deployed, ``"UNDEPLOYED"``) and the service's times.

    ``raw`` is the entry as the service sent it.
    """

    vocabulary_id: str
    status: str
    gmt_create: str
    gmt_modified: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A vocabulary's content: its ``target_model``, hot words, ``status`` and times.

    ``raw`` is the query's output as the service sent it.
    """

    vocabulary_id: str
    target_model: str
    words: tuple[HotWord, ...]
    status: str
    gmt_create: str
    gmt_modified: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)


class Vocabularies:
    """The customization API of one account (and workspace).

    Build it from a :class:`ClientConfig` (``client.vocabularies`` does) or with the
    arguments of :meth:`ClientConfig.resolve`. Items are validated before anything is sent
    (:func:`~funasr_realtime.protocol.vocabulary.hot_words`: :class:`ConfigurationError`).
    Every request is bounded by ``timeout`` (default ``Timeouts.connect``); one that could
    not connect is retried ``retries`` times, ``retry_delay`` seconds apart (as the SDK
    does), and so is a read-only one (list, query) that failed later. The service's refusals
    are :class:`ApiError` (``NotFound``, ``InvalidParameter``, ``InvalidApiKey``...; see
    :func:`~funasr_realtime.protocol.classify`); a key provider is asked before each request.
    ``transport`` is httpx's (e.g. ``httpx.MockTransport`` in tests); ``model`` the one the
    customization API is called with (the SDK's default, ``speech-biasing``).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        allow_insecure: bool = False,
        timeout: float | None = None,
        retries: int = 3,
        retry_delay: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        model: str = VOCABULARY_MODEL,
    ) -> None:
        assert config.http_url is not None  # ClientConfig derives it from the URL
        check_http_url(config.http_url, allow_insecure)
        self.config = config
        self.url = config.http_url.rstrip("/") + CUSTOMIZATION_ROUTE
        self.timeout = config.timeouts.connect if timeout is None else timeout
        self.retries, self.retry_delay = max(0, retries), retry_delay
        self._transport = transport
        self._model = model
        # ensure_once(): ids found per (model, content); requests in flight, shared.
        self._ensured: dict[tuple[str, str], str] = {}
        self._ensuring: dict[tuple[str, str], asyncio.Future[str]] = {}
        #: The request id of the last answered request (for support tickets).
        self.last_request_id: str | None = None

    @classmethod
    def resolve(cls, *, allow_insecure: bool = False, **options: Any) -> Vocabularies:
        """Resolve the target as :meth:`ClientConfig.resolve` does (``api_key``, ``url``, ``http_url``...)."""
        return cls(ClientConfig.resolve(allow_insecure=allow_insecure, **options), allow_insecure=allow_insecure)

    async def create(self, target_model: str, items: HotWords, *, prefix: str) -> str:
        """Create a vocabulary for ``target_model``; returns its id (``vocab-PREFIX-...``).

        ``prefix``: 1-9 digits or lowercase letters. A model documented without hot words is
        a :class:`ConfigurationError` before sending.
        """
        _check_model(target_model)
        fields = {"target_model": target_model, "prefix": check_prefix(prefix), "vocabulary": _wire(items)}
        output = await self._call("create_vocabulary", fields)
        return _text(output, "vocabulary_id")

    async def list(
        self, *, prefix: str | None = None, page_index: int = 0, page_size: int = 10
    ) -> list[VocabularyEntry]:
        """One page of the vocabularies (those whose prefix is ``prefix``, when given), oldest first."""
        fields: dict[str, Any] = {"page_index": page_index, "page_size": page_size}
        if prefix:
            fields["prefix"] = prefix
        output = await self._call("list_vocabulary", fields)
        entries = output.get("vocabulary_list")
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise RemoteProtocolError("list_vocabulary answered without a vocabulary_list of objects")
        return [_entry(entry) for entry in entries]

    async def entries(
        self, *, prefix: str | None = None, page_size: int = _PAGE_SIZE
    ) -> AsyncIterator[VocabularyEntry]:
        """Every vocabulary (with ``prefix``, when given), page after page, until a short page."""
        page_index = 0
        while True:
            page = await self.list(prefix=prefix, page_index=page_index, page_size=page_size)
            for entry in page:
                yield entry
            if len(page) < page_size:
                return
            page_index += 1

    async def get(self, vocabulary_id: str) -> Vocabulary:
        """The vocabulary's content (action ``query_vocabulary``); ``ApiError`` ``NotFound`` if there is none."""
        output = await self._call("query_vocabulary", {"vocabulary_id": vocabulary_id})
        items = output.get("vocabulary")
        if not isinstance(items, list):
            raise RemoteProtocolError("query_vocabulary answered without a vocabulary list")
        try:
            words = hot_words(items) if items else ()
        except ConfigurationError as exc:
            raise RemoteProtocolError(f"query_vocabulary answered an item this client cannot read: {exc}") from None
        return Vocabulary(
            vocabulary_id,
            _text(output, "target_model"),
            words,
            str(output.get("status", "")),
            str(output.get("gmt_create", "")),
            str(output.get("gmt_modified", "")),
            raw=output,
        )

    async def update(self, vocabulary_id: str, items: HotWords) -> None:
        """Replace the vocabulary's hot words."""
        await self._call("update_vocabulary", {"vocabulary_id": vocabulary_id, "vocabulary": _wire(items)})

    async def delete(self, vocabulary_id: str) -> None:
        """Delete the vocabulary."""
        await self._call("delete_vocabulary", {"vocabulary_id": vocabulary_id})

    async def ensure(self, target_model: str, items: HotWords) -> str:
        """The id of a vocabulary of ``target_model`` holding exactly ``items`` (in any order), created if none does.

        Its prefix is the content's hash (:func:`~funasr_realtime.protocol.vocabulary.content_hash`),
        so the candidates are one short list; each is queried and reused only if its model
        and items are the same. Two processes ensuring the same new content at the same
        moment may still both create one.
        """
        words = hot_words(items)
        prefix = content_hash(target_model, words)
        wanted = _content(words)
        async for entry in self.entries(prefix=prefix):
            try:
                existing = await self.get(entry.vocabulary_id)
            except ApiError as exc:
                if exc.code == "NotFound":  # deleted since it was listed
                    continue
                raise
            if existing.target_model == target_model and _content(existing.words) == wanted:
                return entry.vocabulary_id
        return await self.create(target_model, words, prefix=prefix)

    @staticmethod
    def check(items: HotWords) -> tuple[HotWord, ...]:
        """``items`` as validated hot words (what every method sends); :class:`ConfigurationError` if invalid."""
        return hot_words(items)

    async def ensure_once(self, target_model: str, items: HotWords) -> str:
        """:meth:`ensure`, asked at most once per content by this object.

        For declarative hot words (the adapters' ``hotwords=``): a later call with the same
        model and items (in any order) returns the id without a request, and concurrent
        calls share one request, so streams that start together never create two
        vocabularies. A failure is not kept: the next call asks again.
        """
        words = hot_words(items)
        key = (target_model, json.dumps(_content(words), ensure_ascii=False))
        if (known := self._ensured.get(key)) is not None:
            return known
        pending = self._ensuring.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self.ensure(target_model, words))
            self._ensuring[key] = pending
            pending.add_done_callback(lambda done: self._ensured_by(key, done))
        # shield: one caller giving up (its own timeout) does not cancel the others' request.
        return await asyncio.shield(pending)

    def _ensured_by(self, key: tuple[str, str], done: asyncio.Future[str]) -> None:
        self._ensuring.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self._ensured[key] = done.result()

    async def _call(self, action: str, fields: dict[str, Any]) -> dict[str, Any]:
        """POST one action; its ``output``. Retries as the class docstring says."""
        import httpx

        body = {"model": self._model, "input": {"action": action, **fields}, "parameters": {}}
        attempt = 0
        async with httpx.AsyncClient(transport=self._transport, timeout=self.timeout) as http:
            while True:
                config = await self.config.with_current_key()
                try:
                    response = await post(
                        http,
                        self.url,
                        headers=api_headers(config),
                        what="customization",
                        timeout=self.timeout,
                        json=body,
                    )
                except (ConnectError, TransportTimeout) as exc:
                    # A request that never connected cannot have acted; a timed-out one may
                    # have, so only reading is retried then (a create must not run twice).
                    attempt += 1
                    if attempt > self.retries or (isinstance(exc, TransportTimeout) and action not in _READ_ONLY):
                        raise
                    await asyncio.sleep(self.retry_delay)
                    continue
                answer, self.last_request_id = service_answer(response, "customization")
                break
        output = answer.get("output")
        if not isinstance(output, dict):
            raise RemoteProtocolError(f"{action} answered without an output object")
        return output


def _check_model(target_model: str) -> None:
    if not isinstance(target_model, str) or not target_model:
        raise ConfigurationError("target_model is required (the model the vocabulary is for)")
    if not model_offers(target_model, "hotwords"):
        raise ConfigurationError(f"{target_model} does not support hot words (vocabularies); pick a model that does")


def _wire(items: HotWords) -> list[dict[str, Any]]:
    return [word.wire() for word in hot_words(items)]


def _content(words: Iterable[HotWord]) -> list[dict[str, Any]]:
    return sorted((word.wire() for word in words), key=lambda item: json.dumps(item, sort_keys=True))


def _text(output: Mapping[str, Any], name: str) -> str:
    value = output.get(name)
    if not isinstance(value, str) or not value:
        raise RemoteProtocolError(f"the customization route answered without {name}")
    return value


def _entry(entry: dict[str, Any]) -> VocabularyEntry:
    return VocabularyEntry(
        _text(entry, "vocabulary_id"),
        str(entry.get("status", "")),
        str(entry.get("gmt_create", "")),
        str(entry.get("gmt_modified", "")),
        raw=entry,
    )
