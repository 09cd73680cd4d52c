"""Hot words: the vocabulary of the plugin's ``hotwords`` (and the session's key terms).

The STT ensures a vocabulary holding them for the model
(:meth:`funasr_realtime.Vocabularies.ensure_once`: reused by content hash, so a restarted
agent with the same words creates none) and every stream names it from its next Fun-ASR
task on. With ``hotwords`` given (even ``[]``), the session's key terms become hot words
too. The wait is bounded (``timeouts.connect``); if the vocabulary cannot be had, the task
runs *without* hot words (a voice agent keeps hearing), a warning is logged, a
*recoverable* ``error`` event is emitted (:class:`HotWordsUnavailable`), and the next task
asks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livekit.agents import APIConnectionError, APIError

import funasr_realtime as fr

from .log import logger

__all__ = ["HotWordVocabulary", "HotWordsUnavailable"]


class HotWordsUnavailable(APIConnectionError):
    """The vocabulary for ``hotwords`` could not be ensured: the task runs without hot words.

    Emitted as a *recoverable* ``error`` event on the STT; the next task asks again.
    """


class HotWordVocabulary:
    """Ensures vocabularies for one STT; ``report(error)`` emits a recoverable error event."""

    def __init__(self, vocabularies: fr.Vocabularies, timeout: float, report: Callable[[APIError], None]) -> None:
        self.vocabularies = vocabularies
        self._timeout = timeout
        self._report = report
        self._keyterms: tuple[str, ...] = ()  # the session's, hot words too in hotwords mode

    def set_keyterms(self, keyterms: tuple[str, ...]) -> None:
        """The session's key terms, already stripped and deduplicated (by the STT)."""
        self._keyterms = keyterms

    def words(self, hotwords: tuple[fr.HotWord, ...]) -> tuple[fr.HotWord, ...]:
        """``hotwords`` plus the session's key terms they do not already hold."""
        texts = {word.text.casefold() for word in hotwords}
        extra = tuple(fr.HotWord(text=term) for term in self._keyterms if term.casefold() not in texts)
        return hotwords + extra

    async def vocabulary_for(self, model: str, hotwords: tuple[fr.HotWord, ...]) -> str | None:
        """The vocabulary of ``hotwords`` (and the key terms) for ``model``; None if there are
        no words, or if it could not be had within the timeout (reported, see the module)."""
        words = self.words(hotwords)
        if not words:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                return await self.vocabularies.ensure_once(model, words)
        except (fr.FunAsrError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            logger.warning("hot words not applied to this task (the next one tries again): %s", reason)
            error = HotWordsUnavailable(f"Fun-ASR hot words unavailable: {reason}", retryable=True)
            error.__cause__ = exc
            self._report(error)
            return None

    def prepare(self, model: str, hotwords: tuple[fr.HotWord, ...] | None) -> None:
        """Start ensuring the vocabulary now (in the background), so the next task finds it ready."""
        if hotwords is None or not (words := self.words(hotwords)):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # the first stream asks for it
        early = asyncio.ensure_future(self.vocabularies.ensure_once(model, words))
        # A failure is reported by the task that needs the vocabulary (it asks again).
        early.add_done_callback(lambda done: done.cancelled() or done.exception())
