"""What biases recognition beyond the settings: carried-over context and the hot words' vocabulary.

* Context carryover: each bot reply (Pipecat's assistant-turn hook) joins the stream's
  Fun-ASR context, bounded by the core as the service does (5 per role, 400 characters
  each). A model without context (Paraformer) gets none.
* Hot words: the vocabulary holding ``settings.hotwords`` for the model is ensured
  (:meth:`funasr_realtime.Vocabularies.ensure_once`: reused by content hash) within
  ``timeout``; a failure is a message, and recognition goes on without hot words.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import funasr_realtime as fr

from .settings import FunAsrRealtimeSTTSettings

__all__ = ["Biasing"]

logger = logging.getLogger("pipecat_funasr_realtime.stt")


class Biasing:
    """The context and hot-word state of one service, for the settings it is given."""

    def __init__(self, settings: FunAsrRealtimeSTTSettings, vocabularies: fr.Vocabularies, timeout: float) -> None:
        self._settings = settings
        self.vocabularies = vocabularies
        self._timeout = timeout
        self.context: tuple[fr.ContextMessage, ...] = ()  # the recent assistant turns
        self.vocabulary_id: str | None = None  # ensured for settings.hotwords

    def add_assistant_turn(self, text: str) -> bool:
        """A bot reply joins the context; False when it does not (empty, or a model without context)."""
        text = text.strip()
        if not text or not fr.model_offers(str(self._settings.model), "context"):
            return False
        self.context, _ = fr.bound_context((*self.context, fr.ContextMessage.assistant(text)))
        return True

    def parameters(self) -> dict[str, Any]:
        """The settings' run-task parameters, with the context and the hot words' vocabulary."""
        settings = self._settings
        parameters = {**settings.recognition_parameters(), "context": self._model_context()}
        if settings.hot_words():
            parameters["vocabulary_id"] = self.vocabulary_id
        return parameters

    async def settings_changed(self, changed: dict[str, Any]) -> str | None:
        """After a delta: the one of ``hotwords`` and ``vocabulary_id`` it gave replaces the
        other (both is a ``ConfigurationError``), and the vocabulary is ensured again when the
        words or the model changed. Records what it changes in ``changed`` (for a revert);
        returns the hot words' failure message, if any."""
        settings = self._settings
        if "hotwords" in changed and settings.hotwords is not None and "vocabulary_id" not in changed:
            changed["vocabulary_id"] = settings.vocabulary_id
            settings.vocabulary_id = None
        elif "vocabulary_id" in changed and settings.vocabulary_id is not None and "hotwords" not in changed:
            changed["hotwords"] = settings.hotwords
            settings.hotwords = None
        settings.check_hotwords()
        if changed.keys() & {"hotwords", "model"}:
            return await self.ensure_hotwords()
        return None

    async def ensure_hotwords(self) -> str | None:
        """Ensure the vocabulary of the settings' hot words (bounded by ``timeout``).

        Returns None, or why it could not be had (the tasks then run without hot words).
        """
        self.vocabulary_id = None
        words = self._settings.hot_words()
        if not words:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                self.vocabulary_id = await self.vocabularies.ensure_once(str(self._settings.model), words)
        except (fr.FunAsrError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            logger.warning("Fun-ASR hot words not applied: %s", reason)
            return f"Fun-ASR hot words unavailable, recognizing without them: {reason}"
        return None

    def _model_context(self) -> tuple[fr.ContextMessage, ...] | None:
        """The carried-over context, for a model that takes it (None: none is sent)."""
        if not self.context or not fr.model_offers(str(self._settings.model), "context"):
            return None
        return self.context
