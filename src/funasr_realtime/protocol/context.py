"""Context biasing: the conversation text a Fun-ASR task is biased with (``input.context``).

The wire shape, sent in ``run-task`` and ``continue-task`` (docs/PROTOCOL.md §2.3)::

    {"context": [{"role": "user", "content": [{"type": "input_text", "text": "..."}]},
                 {"role": "assistant", "content": [{"type": "text", "text": "..."}]}]}

The service documents two limits and applies them itself instead of failing: at most
:data:`MAX_MESSAGES_PER_ROLE` messages per role (the older ones are dropped) and
:data:`MAX_TURN_CHARS` characters per turn (the text past the limit is cut off).
:func:`bound_context` applies them the same way on this side, so what a stream holds is what
the service reads. All of this is documented, unverified against a live key: the pages also
disagree on which real-time models accept context (see ``protocol/models.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "MAX_MESSAGES_PER_ROLE",
    "MAX_TURN_CHARS",
    "ContextBounds",
    "ContextMessage",
    "ContextRole",
    "bound_context",
    "context_from_wire",
    "context_message",
]

#: Messages of one role the service keeps (the most recent ones).
MAX_MESSAGES_PER_ROLE = 5
#: Characters of one turn (one message) the service reads; the rest is cut off.
MAX_TURN_CHARS = 400

ContextRole = Literal["user", "assistant"]

# The content part type each role uses in the documentation's examples.
_PART_TYPE: dict[str, str] = {"user": "input_text", "assistant": "text"}
_PART_TYPES = frozenset(_PART_TYPE.values())


class ContextMessage(BaseModel):
    """One message of a context: who said it and its text.

    ``user`` messages carry what the caller said or a domain word list (names, products);
    ``assistant`` messages what the agent said, which helps the recognizer with the reply.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: ContextRole
    text: str

    @classmethod
    def user(cls, text: str) -> ContextMessage:
        return cls(role="user", text=text)

    @classmethod
    def assistant(cls, text: str) -> ContextMessage:
        return cls(role="assistant", text=text)

    def to_wire(self) -> dict[str, Any]:
        """The message as ``input.context`` carries it (one text part of the role's type)."""
        return {"role": self.role, "content": [{"type": _PART_TYPE[self.role], "text": self.text}]}


@dataclass(frozen=True, slots=True)
class ContextBounds:
    """What :func:`bound_context` did: messages kept, older ones dropped, texts cut."""

    kept: int
    dropped: int
    truncated: int

    def to_json(self) -> dict[str, int]:
        return {"messages": self.kept, "dropped": self.dropped, "truncated": self.truncated}


def bound_context(messages: Iterable[ContextMessage]) -> tuple[tuple[ContextMessage, ...], ContextBounds]:
    """Apply the service's limits: the last :data:`MAX_MESSAGES_PER_ROLE` of each role, in
    their order, each cut to :data:`MAX_TURN_CHARS` characters."""
    items = list(messages)
    seen: dict[str, int] = {}
    kept_reversed: list[ContextMessage] = []
    for message in reversed(items):  # newest first: the older ones are the ones dropped
        seen[message.role] = seen.get(message.role, 0) + 1
        if seen[message.role] <= MAX_MESSAGES_PER_ROLE:
            kept_reversed.append(message)
    kept: list[ContextMessage] = []
    truncated = 0
    for message in reversed(kept_reversed):
        if len(message.text) > MAX_TURN_CHARS:
            truncated += 1
            kept.append(ContextMessage(role=message.role, text=message.text[:MAX_TURN_CHARS]))
        else:
            kept.append(message)
    return tuple(kept), ContextBounds(len(kept), len(items) - len(kept), truncated)


def context_message(item: ContextMessage | Mapping[str, Any]) -> ContextMessage:
    """A :class:`ContextMessage` from itself, ``{"role", "text"}``, or the wire shape.

    Raises ValueError for anything else.
    """
    if isinstance(item, ContextMessage):
        return item
    if not isinstance(item, Mapping):
        raise ValueError(f"a context message is an object, not {type(item).__name__}")
    role = item.get("role")
    if role not in _PART_TYPE:
        raise ValueError(f"context role must be 'user' or 'assistant', not {str(role)[:32]!r}")
    if set(item) == {"role", "text"}:
        text = item["text"]
    elif set(item) == {"role", "content"}:
        text = _content_text(item["content"])
    else:
        raise ValueError("a context message has 'role' and 'content' (or 'role' and 'text')")
    if not isinstance(text, str):
        raise ValueError("context text must be a string")
    return ContextMessage(role=role, text=text)


def context_from_wire(value: Any) -> tuple[ContextMessage, ...]:
    """Parse ``input.context`` as the service reads it (not bounded yet; see :func:`bound_context`).

    Raises ValueError for a shape the documentation does not describe.
    """
    if not isinstance(value, list):
        raise ValueError("input.context must be a list of messages")
    return tuple(context_message(item) for item in value)


def _content_text(content: Any) -> str:
    # Several text parts are read as one text: the documentation shows one part per message.
    if not isinstance(content, list) or not content:
        raise ValueError("context content must be a non-empty list of text parts")
    texts = []
    for part in content:
        text = part.get("text") if isinstance(part, Mapping) else None
        if not isinstance(text, str) or part.get("type") not in _PART_TYPES:
            raise ValueError("a context content part is {'type': 'input_text' or 'text', 'text': str}")
        texts.append(text)
    return "".join(texts)
