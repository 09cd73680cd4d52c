"""Context on the local server: ``input.context`` validated as documented, reported in debug output.

Only the ``sherpa-funasr-nano`` engine uses context (in its prompt: :mod:`.engines.sherpa_nano`);
for every engine the server checks it as the service documents it
(docs/PROTOCOL.md §2.3; documented, unverified against a live key) and says what it kept:

* a shape the documentation does not describe (not a list; a role other than ``user`` or
  ``assistant``; content that is not a list of ``input_text``/``text`` parts), or context
  for a model the capability table says has none, fails the task with ``InvalidParameter``;
* the limits are applied, not refused, as the service does: the last 5 messages per role
  are kept, each message cut to 400 characters;
* every final result then carries ``payload.output.local_debug.context``: the counts
  ``messages`` (kept), ``dropped``, ``truncated``, ``user``, ``assistant`` and ``chars``.
  The service never sends ``local_debug``; DashScope clients ignore it.
"""

from __future__ import annotations

from typing import Any

from ..protocol import bound_context, context_from_wire, model_offers

__all__ = ["ContextRejected", "context_report"]


class ContextRejected(ValueError):
    """The context cannot be accepted; the task fails with ``InvalidParameter`` and this text."""


def context_report(model: str, input: dict[str, Any]) -> dict[str, int] | None:
    """The debug report of ``input.context``, or None when ``input`` has no context.

    Raises :class:`ContextRejected` for a malformed context, or one sent to a model without context.
    """
    if "context" not in input:
        return None
    if not model_offers(model, "context"):
        raise ContextRejected(f"Model {model} does not support context.")
    try:
        messages = context_from_wire(input["context"])
    except ValueError as exc:
        raise ContextRejected(f"Invalid context: {exc}") from None
    kept, bounds = bound_context(messages)
    users = sum(1 for message in kept if message.role == "user")
    return {
        **bounds.to_json(),
        "user": users,
        "assistant": len(kept) - users,
        "chars": sum(len(message.text) for message in kept),
    }
