"""The SDK's ``VocabularyService`` (dashscope 2.0.2 ``audio/asr/vocabulary.py``), on the core's vocabulary client.

Same signatures and return shapes: ``create_vocabulary(target_model, prefix, vocabulary)``
returns the id, ``list_vocabularies(prefix=None, page_index=0, page_size=10)`` the service's
entries (dicts), ``query_vocabulary(vocabulary_id)`` the service's output (a dict with
``target_model``, ``vocabulary``, ``status``, times), ``update_vocabulary`` and
``delete_vocabulary`` None; ``get_last_request_id()``. Every failure is a
:class:`VocabularyServiceException`, whose ``str()`` is the SDK's. The target is read per
call from the module settings (``api_key``, ``api_key_file_path``, ``base_http_api_url``,
else the HTTP base of ``base_websocket_api_url``; :func:`~funasr_realtime.compat.set_region`
sets both) and the environment, as for :class:`~funasr_realtime.compat.Recognition`.

What behaves better: items are checked before sending (a bad one is the same 400
``InvalidParameter`` the service answers, without a request; so bad items for an id that
does not exist are that 400, where the service would first answer 404); a server that cannot be
reached is retried 3 times, 2 s apart, as in the SDK, and then raises
:class:`VocabularyServiceException` (the SDK's own code fails with ``UnboundLocalError``);
a create that timed out is not sent again (it may have been created); every call is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..client.vocabularies import Vocabularies
from ..protocol import ApiError, ConfigurationError, FunAsrError
from ..protocol.vocabulary import VOCABULARY_MODEL
from . import _loop
from ._options import build_config
from .errors import describe

__all__ = ["VocabularyService", "VocabularyServiceException"]

T = TypeVar("T")


class VocabularyServiceException(FunAsrError):
    """A vocabulary request failed: the SDK's exception (its private fields, its ``str()``).

    Also readable as ``request_id``, ``status_code``, ``code`` and ``error_message``.
    """

    def __init__(self, request_id: str, status_code: int, code: str, error_message: str) -> None:
        super().__init__(request_id, status_code, code, error_message)
        self._request_id = request_id
        self._status_code = status_code
        self._code = code
        self._error_message = error_message

    @property
    def request_id(self) -> str:
        return self._request_id

    @property
    def status_code(self) -> int:
        return self._status_code

    @property
    def code(self) -> str:
        return self._code

    @property
    def error_message(self) -> str:
        return self._error_message

    def __str__(self) -> str:
        return (
            f"Request: {self._request_id}, Status Code: {self._status_code}, "
            f"Code: {self._code}, Error Message: {self._error_message}"
        )


class VocabularyService:
    """API for asr vocabulary service (the SDK's class; see the module docstring).

    ``api_key`` (or a key provider) and ``workspace`` override the module settings; ``model``
    is the customization model (``speech-biasing``). Of the SDK's extra keywords,
    ``headers`` is sent and ``allow_insecure`` (ours) permits plain ``http://`` to a host
    that is not loopback; others are accepted and ignored.
    """

    MAX_QUERY_TRY_COUNT = 3
    #: Seconds between the SDK's retries of a connection failure.
    RETRY_DELAY = 2.0

    def __init__(
        self, api_key: Any = None, workspace: str | None = None, model: str | None = None, **kwargs: Any
    ) -> None:
        self._api_key = api_key
        self._workspace = workspace
        self._kwargs = kwargs
        self._last_request_id: str | None = None
        self.model = model if model is not None else VOCABULARY_MODEL

    def create_vocabulary(self, target_model: str, prefix: str, vocabulary: list[dict[str, Any]]) -> str:
        """Create a hot word table for ``target_model``; returns its vocabulary_id.

        ``prefix``: only digits and lowercase letters, less than 10 characters.
        """
        return self._run(lambda service: service.create(target_model, vocabulary, prefix=prefix))

    def list_vocabularies(
        self, prefix: str | None = None, page_index: int = 0, page_size: int = 10
    ) -> list[dict[str, Any]]:
        """The hot word tables (with ``prefix``, when given): the service's entries, one page."""

        async def page(service: Vocabularies) -> list[dict[str, Any]]:
            entries = await service.list(prefix=prefix, page_index=page_index, page_size=page_size)
            return [dict(entry.raw) for entry in entries]

        return self._run(page)

    def query_vocabulary(self, vocabulary_id: str) -> dict[str, Any]:
        """The hot word table's content: the service's output (``target_model``, ``vocabulary``, ``status``, times)."""

        async def query(service: Vocabularies) -> dict[str, Any]:
            return dict((await service.get(vocabulary_id)).raw)

        return self._run(query)

    def update_vocabulary(self, vocabulary_id: str, vocabulary: list[dict[str, Any]]) -> None:
        """Replace the hot word table's content with ``vocabulary``."""
        self._run(lambda service: service.update(vocabulary_id, vocabulary))

    def delete_vocabulary(self, vocabulary_id: str) -> None:
        """Delete the hot word table."""
        self._run(lambda service: service.delete(vocabulary_id))

    def get_last_request_id(self) -> str | None:
        return self._last_request_id

    def _run(self, action: Callable[[Vocabularies], Coroutine[Any, Any, T]]) -> T:
        options = {"api_key": self._api_key, "workspace": self._workspace, "headers": self._kwargs.get("headers")}
        allow_insecure = bool(self._kwargs.get("allow_insecure", False))
        config = build_config({k: v for k, v in options.items() if v is not None} | {"allow_insecure": allow_insecure})
        service = Vocabularies(
            config,
            allow_insecure=allow_insecure,
            retries=self.MAX_QUERY_TRY_COUNT,
            retry_delay=self.RETRY_DELAY,
            model=self.model,
        )
        # A backstop above the core's own bound: every attempt and every pause between them.
        bound = (service.retries + 1) * service.timeout + service.retries * service.retry_delay + 5.0
        try:
            result = _loop.call(action(service), bound, "vocabulary request")
        except ApiError as exc:
            raise VocabularyServiceException(exc.request_id, exc.status_code, exc.code, exc.message) from None
        except ConfigurationError as exc:  # what the service would refuse, refused before sending
            raise VocabularyServiceException("", 400, "InvalidParameter", str(exc)) from None
        except FunAsrError as exc:
            status, code, message = describe(exc)
            raise VocabularyServiceException("", status, code, message) from None
        self._last_request_id = service.last_request_id
        return result
