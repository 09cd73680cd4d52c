"""The official SDK pointed at a local server: only its base URLs and key changed."""

from __future__ import annotations

import dashscope
import pytest
from dashscope.audio.asr import VocabularyService

from funasr_realtime.server.thread import ServerThread


def sdk_vocabulary_service(server: ServerThread, key: str, monkeypatch: pytest.MonkeyPatch) -> VocabularyService:
    """The SDK's ``VocabularyService`` (and ``Recognition``) on ``server``; ``monkeypatch``
    restores the SDK's globals afterwards."""
    monkeypatch.setattr(dashscope, "base_http_api_url", server.http_url)
    monkeypatch.setattr(dashscope, "base_websocket_api_url", server.url)
    monkeypatch.setattr(dashscope, "api_key", key)
    return VocabularyService()
