"""Driving the core stream: audio in, task boundaries, the stream's life and its failure.

The service's Pipecat hooks call the :class:`StreamDriver`; it owns the current
:class:`~._session.Session`, resamples and sends audio, ends tasks (a VAD stop, a settings
rotation, the end of input) and reports a failure exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pipecat.audio.resamplers.base_audio_resampler import BaseAudioResampler
from pipecat.audio.utils import create_stream_resampler
from pipecat.utils.errors import ErrorCategory

import funasr_realtime as fr

from ._frames import FrameMapper
from ._session import Session

if TYPE_CHECKING:
    from .stt import FunAsrRealtimeSTTService

__all__ = ["StreamDriver"]

logger = logging.getLogger("pipecat_funasr_realtime.stt")


class StreamDriver:
    """The current core stream of a service, and everything sent to it."""

    def __init__(self, service: FunAsrRealtimeSTTService, client: fr.Client, frames: FrameMapper) -> None:
        self._service = service
        self._client = client
        self._frames = frames
        self.rate = 0  # rate sent to Fun-ASR, fixed in setup()
        self._resampler: BaseAudioResampler | None = None
        self.session: Session | None = None
        self.rotate_pending = False  # settings changed: rotate the task at the next boundary

    async def prewarm(self, pipeline_rate: int, rate: int) -> None:
        """Open the stream at ``rate`` and its connection now. Raises :class:`funasr_realtime.FunAsrError`."""
        self.rate = rate
        if rate != pipeline_rate:
            self._resampler = create_stream_resampler()
        await self._open().stream.connect()

    async def send(self, audio: bytes) -> None:
        """Send pipeline audio (resampled to the model's rate); reopens a stream that failed."""
        session = self.session
        if session is None or session.reported:
            # Usable again after a failure (new settings, or the application said so).
            session = await self._restart()
        if session is not None and not session.failed and not session.finishing:
            pcm = audio
            if self._resampler is not None:
                pcm = await self._resampler.resample(audio, self._service.sample_rate, self.rate)
            if pcm:
                await self._send(session, pcm)

    async def finalize(self, *, request: bool) -> None:
        """End the current task now (task rotation); later audio goes to a new task.

        ``request``: a VAD stop asked for it, so its closing transcript is ``finalized``.
        """
        session = self.session
        if session is None or session.failed or session.finishing:
            return
        rotate = session.stream.task_open  # else nothing was sent since, or the core closed it for idleness
        if rotate:
            await self._flush_resampler(session)
        # The next task starts where the audio ends now, with the current parameters.
        self.rotate_pending = False
        self._frames.languages.mark(session.stream.audio_ms, self._service._language())
        if not rotate:
            return
        logger.debug(
            "finalizing the task at %d ms (%s)", session.stream.audio_ms, "VAD stop" if request else "rotation"
        )
        await self._end_task(session, request=request)

    async def rotate_if_pending(self, session: Session) -> None:
        """After a final: a settings change waiting for a task boundary takes effect now."""
        if self.rotate_pending and not session.failed:
            await self.finalize(request=False)

    async def finish(self, *, timeout: float | None) -> None:
        """End of input: finalize, wait (bounded) for the trailing results, close.

        ``finish()`` returns once the last task is over (or fails); the consumer then only
        has queued events left, so its wait is bounded by ``timeouts.stop`` at most.
        """
        session = self.session
        if session is None:
            return
        if not session.failed and not session.finishing:
            await self._flush_resampler(session)
            if self._service.endpointing == "vad" and session.stream.task_open:
                # finish() would close this task too, but only finalize() gives the handle.
                await self._end_task(session, request=True)
            session.finishing = True
            try:
                await session.stream.finish(timeout=timeout)
            except fr.FunAsrError as exc:
                await self.fail(session, exc)
        if session.consumer is not None:
            drain = self._client.config.timeouts.stop
            await asyncio.wait({session.consumer}, timeout=min(drain, timeout or drain))
        await self._close(session)
        self.session = None
        await self._service._call_event_handler("on_disconnected")

    async def abort(self) -> None:
        """Close the stream now (a cancel, the cleanup); returns once its tasks are done."""
        session, self.session = self.session, None
        if session is not None:
            await self._close(session)
            await self._service._call_event_handler("on_disconnected")
        if self._resampler is not None:
            await self._resampler.reset()

    async def fail(self, session: Session | None, error: fr.FunAsrError) -> None:
        """Report a stream failure once, with one ErrorFrame that leaves the service unusable.

        Permanent errors (``not is_retryable``) are never retried; transient ones reach
        here only after the core's retries ran out. Either way retrying from here would
        only repeat the failure, so the service steps aside for a ``ServiceSwitcher``.
        """
        if session is not None:
            if session.failed:
                return
            session.failed = True
            await session.stream.aclose()
        self._frames.finalize.forget()
        if isinstance(error, fr.TransportError):
            await self._service._call_event_handler("on_connection_error", str(error))
        what = "rejected the request" if not fr.is_retryable(error) else "failed after the client's retries"
        await self._service.push_error(
            f"Fun-ASR {what}: {error}",
            exception=error,  # Pipecat derives the category from it (the service's _classify_error)
            force_treat_as_permanent=True,
        )
        if session is not None:
            session.reported = True

    # ------------------------------------------------------------------ internals

    def _open(self) -> Session:
        """A new stream with its reader and consumer. Raises ConfigurationError on a mismatch."""
        service = self._service
        session = Session(self._client.stream(service._params(self.rate)))
        self.session = session
        self._frames.reset(service._language())
        session.reader = service.create_task(session.queue_events(), name="funasr-realtime-reader")
        session.consumer = service.create_task(self._frames.consume(session), name="funasr-realtime-consumer")
        return session

    async def _restart(self) -> Session | None:
        if self.session is not None:
            await self._close(self.session)
        try:
            return self._open()
        except fr.FunAsrError as exc:
            self.session = None
            await self.fail(None, exc)
            return None

    async def _close(self, session: Session) -> None:
        await session.stream.aclose()
        for task in session.tasks():
            await self._service.cancel_task(task)

    async def _send(self, session: Session, pcm: bytes) -> None:
        try:
            await session.stream.send_audio(pcm)
        except fr.AudioError as exc:  # this frame is malformed; the stream is fine
            await self._service.push_error(
                f"Fun-ASR dropped malformed audio: {exc}", exception=exc, category=ErrorCategory.APPLICATION
            )
            return
        except fr.FunAsrError as exc:
            await self.fail(session, exc)
            return

    async def _flush_resampler(self, session: Session) -> None:
        """Send what the resampler still holds, so the end of speech reaches the task."""
        if self._resampler is not None:
            tail = await self._resampler.flush()
            if tail:
                await self._send(session, tail)

    async def _end_task(self, session: Session, *, request: bool) -> None:
        """Finalize the current task; ``request``: its closing transcript is ``finalized``."""
        if request:
            self._service.request_finalize()
            await self._service.start_processing_metrics()
        try:
            handle = await session.stream.finalize()
        except fr.FunAsrError as exc:
            await self.fail(session, exc)
            return
        if request and handle is not None:
            self._frames.finalize.request(handle)
