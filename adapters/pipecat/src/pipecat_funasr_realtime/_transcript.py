"""Transcript bookkeeping with no Pipecat I/O: finalize answers, task languages, partials."""

from __future__ import annotations

from pipecat.transcriptions.language import Language

import funasr_realtime as fr

__all__ = ["FinalizeTracker", "PartialFilter", "TaskLanguages"]


class FinalizeTracker:
    """Which finalize requests stand, and the final that may close one.

    A request is the core's :class:`funasr_realtime.FinalizeRequest` and the utterance it
    closed. The ``TaskCompleted`` with its ``request_id`` answers it; the utterance count
    (VAD starts) tells whether the request still stands, as in Pipecat's base class (the
    user spoke again since: the request no longer marks a transcript finalized).
    Only the last final of the answered task is marked, so while a request stands a final
    is held until the stream's next event says whether it was the last: the core delivers
    a task's ``TaskCompleted`` right after its last final, and tasks in order.
    """

    def __init__(self) -> None:
        self._requests: dict[int, int] = {}  # request id -> utterance it closed
        self._utterance = 0
        self._held: fr.Sentence | None = None

    def new_utterance(self) -> None:
        """The user started speaking again: earlier requests no longer mark transcripts."""
        self._utterance += 1

    def request(self, handle: fr.FinalizeRequest) -> None:
        """A finalize was requested; the core answers it with ``handle.request_id``."""
        self._requests[handle.request_id] = self._utterance

    def forget(self) -> None:
        """The stream failed: no request will be answered."""
        self._requests = {}

    def reset(self) -> None:
        """A new stream: nothing requested, nothing held."""
        self._requests, self._held = {}, None

    def should_hold(self) -> bool:
        """Whether a final may be the last of a finalized task (its TaskCompleted will say)."""
        return bool(self._requests)

    def hold(self, final: fr.Sentence) -> None:
        self._held = final

    @property
    def holding(self) -> bool:
        return self._held is not None

    def release(self) -> fr.Sentence | None:
        """The held final (if any), no longer held."""
        held, self._held = self._held, None
        return held

    def answered(self, event: fr.TaskCompleted) -> bool:
        """A task completed: whether it answers a standing request.

        Tasks complete in order, so requests up to its ``request_id`` are settled either way.
        """
        done = event.request_id
        if done is None:  # an idle finish, or the service ended the task
            return False
        utterance = self._requests.pop(done, None)
        self._requests = {rid: u for rid, u in self._requests.items() if rid > done}
        return utterance == self._utterance


class TaskLanguages:
    """The language each task ran with, by the stream time its task starts at.

    So a transcript is labelled with the language its task ran with, even after a change.
    """

    def __init__(self, language: Language | None) -> None:
        self._starts: list[tuple[int, Language | None]] = [(0, language)]

    def reset(self, language: Language | None) -> None:
        """A new stream, whose tasks run with ``language``."""
        self._starts = [(0, language)]

    def mark(self, at_ms: int, language: Language | None) -> None:
        """Tasks starting from ``at_ms`` on run with ``language``."""
        if language != self._starts[-1][1]:
            self._starts.append((at_ms, language))

    def at(self, sentence: fr.Sentence) -> Language | None:
        """The language of the task that produced ``sentence`` (it began after its task did)."""
        index = 0
        for i, (start, _) in enumerate(self._starts):
            if start > sentence.begin_time:
                break
            index = i
        del self._starts[:index]  # tasks come in order: earlier ones are over
        return self._starts[0][1]


class PartialFilter:
    """Drops a partial that repeats the previous one (same sentence, same text)."""

    def __init__(self) -> None:
        self._last: tuple[int | None, str] | None = None

    def is_new(self, partial: fr.Sentence) -> bool:
        key = (partial.sentence_id, partial.text)
        if key == self._last:
            return False
        self._last = key
        return True

    def reset(self) -> None:
        """A final ended the sentence (or a new stream began)."""
        self._last = None
