"""Context carryover: LiveKit's conversation items and session keyterms → the core's context.

LiveKit 1.8.9 calls ``STT._push_conversation_item`` for every conversation item (when the
STT advertises ``chat_context`` and the session forwards the chat context) and
``STT._update_session_keyterms`` with the session's key terms (static ones and those its
detector finds, when the STT advertises ``keyterms``). Both become Fun-ASR context
(``input.context``): the recent user and assistant turns, then the key terms as one more
user message (the documentation's "domain word list"), so that the service's bound of 5
messages per role drops old turns before it drops the terms. The core bounds the result as
the service does (5 messages per role, 400 characters each).

Which models take context is documented, unverified against a live key (see
``funasr_realtime.protocol.models``); the STT advertises both hooks unless the model table
says the model has no context.
"""

from __future__ import annotations

import funasr_realtime as fr

__all__ = ["Carryover"]

_ROLES = ("user", "assistant")


class Carryover:
    """The recent turns and the key terms, as context messages (bounded by the core)."""

    def __init__(self) -> None:
        self._turns: tuple[fr.ContextMessage, ...] = ()
        self._keyterms: tuple[str, ...] = ()

    def add_turn(self, role: str, text: str | None) -> bool:
        """Keep a user or assistant turn; False (nothing kept) for other roles or no text."""
        text = (text or "").strip()
        if role not in _ROLES or not text:
            return False
        turns = (*self._turns, fr.ContextMessage(role=role, text=text))  # type: ignore[arg-type]
        self._turns, _ = fr.bound_context(turns)
        return True

    def set_keyterms(self, terms: tuple[str, ...]) -> None:
        """The session's key terms, already stripped and deduplicated (by the STT)."""
        self._keyterms = terms

    def messages(self) -> tuple[fr.ContextMessage, ...]:
        """The context to send: the turns, then the key terms (bounded as the service does)."""
        if not self._keyterms:
            return self._turns
        messages, _ = fr.bound_context((*self._turns, fr.ContextMessage.user(", ".join(self._keyterms))))
        return messages
