"""Frame mapping: the core stream's events → Pipecat frames, in order.

* partial sentence → ``InterimTranscriptionFrame`` (a repeat of the last one is dropped);
* final sentence → ``TranscriptionFrame`` with the :class:`funasr_realtime.Sentence`
  (stream-timeline times, word timestamps) as ``result``;
* ``TaskCompleted`` → usage with the billed seconds, and in ``"vad"`` endpointing the
  confirmation that marks the closing transcript ``finalized``;
* ``Reconnected`` → a log line and the ``on_reconnected`` event; if audio outlasted the
  replay buffer (``dropped_ms > 0``) also a non-fatal ``ErrorFrame`` (CONNECTIVITY): the
  service stays usable, but the loss is never silent;
* a stream error → the service's one failure report.

Frames mark Chinese and Japanese text ``includes_inter_frame_spaces`` (it is joined without
spaces), decided from the text by :func:`funasr_realtime.is_unspaced`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pipecat.frames.frames import (
    InterimTranscriptionFrame,
    ProposedUserStartedSpeakingFrame,
    ProposedUserStoppedSpeakingFrame,
    TranscriptionFrame,
)
from pipecat.metrics.metrics import STTUsage
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.time import time_now_iso8601

import funasr_realtime as fr

from ._session import Session
from ._transcript import FinalizeTracker, PartialFilter, TaskLanguages

if TYPE_CHECKING:
    from .stt import Endpointing, FunAsrRealtimeSTTService

__all__ = ["FrameMapper", "FunAsrSTTUsage"]

logger = logging.getLogger("pipecat_funasr_realtime.stt")


class FunAsrSTTUsage(STTUsage):
    """STT usage with what Fun-ASR bills.

    ``audio_seconds`` is Pipecat's client-measured audio sent since the last report;
    ``billed_seconds`` is the service's own ``usage.duration`` of the tasks completed since
    the last report (whole seconds per task). Sum either over a session.
    """

    billed_seconds: float = 0.0


class FrameMapper:
    """The consumer of a session's events: pushes each as frames through the service.

    Holds the transcript state of the current stream (finalize requests, task languages,
    the last partial, the proposed turn) and the billed seconds not yet reported. Runs on
    the service's event loop, with no await between a check and its update.
    """

    def __init__(self, service: FunAsrRealtimeSTTService, endpointing: Endpointing) -> None:
        self._service = service
        self._endpointing = endpointing
        self.finalize = FinalizeTracker()
        self.languages = TaskLanguages(None)
        self._partials = PartialFilter()
        self.turn_open = False  # "server" endpointing: a proposed turn is open
        self._billed = 0  # billed seconds not yet reported as usage

    def reset(self, language: Language | None) -> None:
        """A new stream, whose tasks run with ``language``."""
        self.finalize.reset()
        self.languages.reset(language)
        self._partials.reset()

    def take_billed(self) -> int:
        """Billed seconds since the last call."""
        billed, self._billed = self._billed, 0
        return billed

    async def consume(self, session: Session) -> None:
        """Turn the session's queued events into frames until the stream ends."""
        while True:
            item = await session.queue.get()
            if item is None:
                await self.release_held()
                return
            if isinstance(item, fr.FunAsrError):
                await self.release_held()
                await self._service._driver.fail(session, item)
            elif isinstance(item, fr.SentenceEvent):
                await self._on_sentence(session, item.sentence)
            elif isinstance(item, fr.TaskCompleted):
                await self._on_task_completed(item)
            elif isinstance(item, fr.Reconnected):
                await self._on_reconnected(item)

    async def _on_sentence(self, session: Session, sentence: fr.Sentence) -> None:
        if not sentence.text.strip():
            return
        await self.release_held()  # a later sentence: the held one was not the task's last
        if not sentence.is_final:
            if self._partials.is_new(sentence):
                await self._push_partial(sentence)
            return
        self._partials.reset()
        if self.finalize.should_hold():
            self.finalize.hold(sentence)  # maybe the last final of a finalized task: its TaskCompleted says
            return
        await self._push_transcript(sentence, finalized=self._endpointing == "server")
        await self._service._driver.rotate_if_pending(session)  # new settings from the next sentence on

    async def _on_task_completed(self, event: fr.TaskCompleted) -> None:
        service = self._service
        metrics = event.metrics
        self._billed += metrics.billed_seconds or 0
        answered = self.finalize.answered(event)
        logger.debug("task %s completed at %d ms (finalize request: %s)", metrics.task_id, event.end_ms, answered)
        if not answered:
            await self.release_held()  # not a requested finalize, or the user spoke again since
            await service.emit_stt_usage_metrics()
            return
        held = self.finalize.release()
        if held is not None:
            service.confirm_finalize()  # the base marks the next TranscriptionFrame finalized
            await self._push_transcript(held, finalized=False)
        else:
            # The task's transcript (if any) went out before the finalize: close TTFB now.
            await service.emit_stt_usage_metrics()
            await service.stop_ttfb_metrics()
            await service._cancel_ttfb_timeout()
        await service.stop_processing_metrics()

    async def _on_reconnected(self, event: fr.Reconnected) -> None:
        logger.warning(
            "Fun-ASR recovered from %s (attempt %d, %.0f ms down, %d ms of audio replayed, %d ms lost)",
            event.error,
            event.attempt,
            event.downtime_ms,
            event.replayed_ms,
            event.dropped_ms,
        )
        await self._service._call_event_handler("on_reconnected", event)
        if event.dropped_ms:
            await self._service.push_error(
                f"Fun-ASR reconnected but {event.dropped_ms} ms of audio outlasted the replay buffer and were lost",
                exception=event.error,
                category=ErrorCategory.CONNECTIVITY,
            )

    async def release_held(self) -> None:
        """Push the held final, unmarked: it was not the last of a finalized task."""
        held = self.finalize.release()
        if held is not None:
            await self._push_transcript(held, finalized=False)

    async def _push_partial(self, sentence: fr.Sentence) -> None:
        service = self._service
        await self.propose_turn_start()
        language = self.languages.at(sentence)
        now = time_now_iso8601()
        frame = InterimTranscriptionFrame(sentence.text, service._user_id, now, language, result=sentence)
        frame.includes_inter_frame_spaces = fr.is_unspaced(sentence.text)
        await service.push_frame(frame)

    async def _push_transcript(self, sentence: fr.Sentence, *, finalized: bool) -> None:
        service = self._service
        language = self.languages.at(sentence)
        await service.emit_stt_usage_metrics()  # before the transcript, so tracing attaches it
        await self.propose_turn_start()
        frame = TranscriptionFrame(
            sentence.text, service._user_id, time_now_iso8601(), language, result=sentence, finalized=finalized
        )
        frame.includes_inter_frame_spaces = fr.is_unspaced(sentence.text)
        await service.push_frame(frame)
        await service._handle_transcription(sentence.text, True, language)
        if self._endpointing == "server" and self.turn_open:
            self.turn_open = False
            await service.broadcast_frame(ProposedUserStoppedSpeakingFrame)

    async def propose_turn_start(self) -> None:
        """In ``"server"`` endpointing, open a proposed user turn (once)."""
        if self._endpointing == "server" and not self.turn_open:
            self.turn_open = True
            await self._service.broadcast_frame(ProposedUserStartedSpeakingFrame)
