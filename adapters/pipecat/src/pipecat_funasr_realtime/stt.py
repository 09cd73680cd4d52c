"""Alibaba Cloud Fun-ASR real-time speech recognition as a Pipecat STT service.

The service maps Pipecat's hooks and frames onto one long-lived
:class:`funasr_realtime.RecognitionStream`; the core owns the connection, task rotation,
reconnects and replay. The parts, one responsibility each:

* :mod:`._driver`: the stream's life: audio in (resampled to the model's rate), task
  boundaries (a VAD stop, a settings rotation, the end of input), the failure report;
* :mod:`._session`: one core stream, the queue its events wait in, its tasks;
* :mod:`._frames`: events → frames, in order (transcripts, usage, the ``finalized`` mark);
* :mod:`._transcript`: the bookkeeping behind them (finalize answers, task languages);
* :mod:`._errors`: the core's error kinds → Pipecat's error categories;
* :mod:`.settings`: the runtime-updatable settings and the rate sent to Fun-ASR;
* :mod:`._biasing`: context carryover (each bot reply, from Pipecat's assistant-turn hook,
  joins the stream's context: the open task by continue-task, later ones in their run-task)
  and hot words (``hotwords=[...]``, or ``Settings(hotwords=...)``: a vocabulary ensured by
  content hash in ``setup()`` and at each settings update, named from the next task on; if it
  cannot be had, recognition goes on without it and a non-fatal ``ErrorFrame`` says why).

Emotion (paraformer-realtime-8k-v2) is on each transcription frame's ``result``
(:attr:`funasr_realtime.Sentence.emotion`).

A stream error gives one ``ErrorFrame`` that leaves the service unusable, so a
``ServiceSwitcher`` can fail over. Every exit (``EndFrame``, ``CancelFrame``, cleanup, a
failure) awaits the core stream's ``aclose()``, so no task of the service outlives the
pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    StartFrame,
    STTMetadataFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
from pipecat.services.settings import STTSettings
from pipecat.services.stt_latency import DEFAULT_TTFS_P99
from pipecat.services.stt_service import STTService
from pipecat.transcriptions.language import Language, resolve_language
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.tracing.service_decorators import traced_stt
from pipecat.utils.types import NOT_GIVEN, NotGiven

import funasr_realtime as fr
from funasr_realtime import Region, Resilience, Timeouts

from ._biasing import Biasing
from ._driver import StreamDriver
from ._errors import error_category
from ._frames import FrameMapper, FunAsrSTTUsage
from .settings import LANGUAGE_MAP, FunAsrRealtimeSTTSettings, revert, target_sample_rate, to_language

__all__ = ["FUNASR_REALTIME_TTFS_P99", "Endpointing", "FunAsrRealtimeSTTService", "FunAsrSTTUsage"]

logger = logging.getLogger(__name__)

Endpointing = Literal["vad", "server"]

#: Speech end → final transcript, P99, published to Pipecat's turn strategies. Not yet
#: measured against Alibaba Cloud (the local server finalizes in tens of milliseconds,
#: see the README); Pipecat's conservative default until it is. Pass your measured value.
FUNASR_REALTIME_TTFS_P99: float = DEFAULT_TTFS_P99


class FunAsrRealtimeSTTService(STTService):
    """Fun-ASR real-time recognition (Alibaba Cloud Model Studio / DashScope) for Pipecat.

    Add it where any Pipecat STT goes::

        stt = FunAsrRealtimeSTTService(language=Language.ZH)   # $DASHSCOPE_API_KEY

    Endpointing:

    * ``"vad"`` (default): Pipecat's VAD owns turns. A ``VADUserStoppedSpeakingFrame``
      (from either direction) finalizes the Fun-ASR task at once by task rotation; the
      closing transcript carries ``finalized=True`` and TTFB is measured from the VAD stop.
    * ``"server"``: Fun-ASR's sentence end (``max_sentence_silence`` or semantic
      punctuation) ends turns. Each final is a finalized ``TranscriptionFrame`` followed by
      a ``ProposedUserStoppedSpeakingFrame``; the service recommends
      ``ExternalUserTurnStrategies`` (unless the application passes its own).

    Event handlers (besides ``on_connected``, ``on_disconnected``, ``on_connection_error``):
    ``on_reconnected(service, event: funasr_realtime.Reconnected)`` after the core recovered
    from a transient failure by replaying the unconfirmed audio into a new task.
    """

    Settings = FunAsrRealtimeSTTSettings
    _settings: FunAsrRealtimeSTTSettings

    def __init__(
        self,
        *,
        api_key: str | fr.KeyProvider | None = None,
        url: str | None = None,
        region: Region | str | None = None,
        workspace: str | None = None,
        model: str | NotGiven = NOT_GIVEN,
        language: Language | str | NotGiven | None = NOT_GIVEN,
        settings: FunAsrRealtimeSTTSettings | None = None,
        endpointing: Endpointing = "vad",
        should_interrupt: bool = True,
        sample_rate: int | None = None,
        audio_sample_rate: int | None = None,
        timeouts: Timeouts | None = None,
        resilience: Resilience | None = None,
        finish_timeout: float | None = None,
        ttfs_p99_latency: float | None = FUNASR_REALTIME_TTFS_P99,
        transport: fr.TransportFactory | str | None = None,
        hotwords: Sequence[str | fr.HotWord | Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the service; nothing connects until the pipeline is set up.

        Args:
            api_key: DashScope API key; default ``$DASHSCOPE_API_KEY``, else the SDK's key
                file. Keys are bound to a region. A local server may need none. May be a
                function, sync or async, returning the key: asked on every connect, for keys
                that expire (``fr.mint_temporary_key``).
            url: WebSocket endpoint; default ``$DASHSCOPE_WEBSOCKET_BASE_URL``, else the
                public endpoint of ``region``.
            region: ``"intl"`` (Singapore, default) or ``"cn"`` (Beijing).
            workspace: Model Studio workspace id (workspace-scoped endpoint and header).
            model: Fun-ASR model; default ``fun-asr-realtime``. ``settings.model`` wins.
            language: ``Language`` hint; ``None`` (default) auto-detects. ``settings.language``
                wins.
            settings: Runtime-updatable settings (``FunAsrRealtimeSTTService.Settings``):
                vocabulary, segmentation, punctuation...; given fields override defaults.
            endpointing: ``"vad"`` (Pipecat's VAD finalizes) or ``"server"`` (Fun-ASR's
                sentence end does).
            should_interrupt: In ``"server"`` endpointing, whether a proposed turn start
                interrupts the bot.
            sample_rate: Rate of the pipeline audio reaching the service; default the
                pipeline's input rate.
            audio_sample_rate: Rate sent to Fun-ASR; default the model's own rate (16 kHz
                for ``fun-asr-realtime``, 8 kHz for the 8k models). Pipeline audio is
                resampled to it with Pipecat's stream resampler.
            timeouts: Bounds of every wait of the core client.
            resilience: Retries, backoff, replay buffer, idle-task finishing and standby
                connection of the core client.
            finish_timeout: An overall bound (seconds) on the wait at ``EndFrame`` for the
                trailing transcripts. ``None`` (default): the core's own wait, which lasts
                while results keep arriving (``timeouts.stop`` after the last one, at most
                ``timeouts.stop`` plus the duration of the audio still uncovered).
            ttfs_p99_latency: Speech end → final transcript P99 (seconds) published to turn
                strategies.
            transport: How connections are opened; default a WebSocket to ``url``.
                ``"picows"`` is the fast transport (``funasr-realtime[fast]``). Pass
                ``funasr_realtime.testing.MockTransport(...)`` to test a pipeline with
                no server and no socket.
            hotwords: Declarative hot words (see the module docstring); the same as
                ``settings.hotwords``. Not with a ``vocabulary_id``.
            **kwargs: Passed to :class:`~pipecat.services.stt_service.STTService`.

        Raises:
            funasr_realtime.ConfigurationError: No key for a cloud endpoint, a bad URL, or
                a model that cannot serve this language, rate or region; ``hotwords``
                with a ``vocabulary_id``, invalid hot words (it is a ``ValueError``).
            ValueError: An unknown ``endpointing``.
        """
        if endpointing not in ("vad", "server"):
            raise ValueError(f"endpointing must be 'vad' or 'server', not {endpointing!r}")
        store = FunAsrRealtimeSTTSettings.store(model=model, language=language, settings=settings)
        if hotwords is not None:
            store.hotwords = hotwords
            store.check_hotwords()
        client = fr.Client(
            api_key=api_key,
            url=url,
            region=region,
            workspace=workspace,
            timeouts=timeouts,
            resilience=resilience,
            transport=transport,
        )
        super().__init__(sample_rate=sample_rate, ttfs_p99_latency=ttfs_p99_latency, settings=store, **kwargs)
        self._client = client
        self._endpointing: Endpointing = endpointing
        self._should_interrupt = should_interrupt
        self._audio_sample_rate = audio_sample_rate
        self._finish_timeout = finish_timeout
        self._biasing = Biasing(store, client.vocabularies, client.config.timeouts.connect)
        self._hotwords_error: str | None = None  # found in setup(), reported at start()
        # Fail at construction for what is already known (model, language, region).
        self._check(self._target_rate(None))

        self._startup_error: fr.FunAsrError | None = None
        self._frames = FrameMapper(self, endpointing)  # reset by each new stream (StreamDriver._open)
        self._driver = StreamDriver(self, client, self._frames)
        self._register_event_handler("on_reconnected")

    # ------------------------------------------------------------------ Pipecat hooks

    def can_generate_metrics(self) -> bool:
        return True

    def language_to_service_language(self, language: Language) -> str | None:
        """Fun-ASR's language hint for a Pipecat ``Language`` (``ZH_CN`` → ``"zh"``)."""
        return resolve_language(language, LANGUAGE_MAP, use_base_code=True)

    def service_metadata_frame(self) -> STTMetadataFrame:
        """In ``"server"`` endpointing, recommend turn strategies driven by this service."""
        frame = super().service_metadata_frame()
        if self._endpointing == "server":
            frame.user_turn_strategies = ExternalUserTurnStrategies(enable_interruptions=self._should_interrupt)
        return frame

    @property
    def endpointing(self) -> Endpointing:
        return self._endpointing

    @property
    def stream(self) -> fr.RecognitionStream | None:
        """The current core stream (for diagnostics), None before setup or after the end."""
        session = self._driver.session
        return session.stream if session is not None else None

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as in Pipecat
        """Open the stream and pre-warm its connection, so the first utterance pays no handshake."""
        await super().setup(setup)
        self._hotwords_error = await self._biasing.ensure_hotwords()
        try:
            await self._driver.prewarm(self.sample_rate, self._target_rate(self.sample_rate))
        except fr.FunAsrError as exc:
            if fr.is_retryable(exc):
                # The first audio connects again, with the core's retries and backoff.
                logger.warning("Fun-ASR pre-warm failed (%s); connecting on the first audio", exc)
                await self._call_event_handler("on_connection_error", str(exc))
            else:
                self._startup_error = exc  # reported once the pipeline has started
            return
        await self._call_event_handler("on_connected")

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if (hotwords_error := self._hotwords_error) is not None:
            self._hotwords_error = None
            await self.push_error(hotwords_error, category=ErrorCategory.CONNECTIVITY)
        error, self._startup_error = self._startup_error, None
        if error is not None:
            await self._driver.fail(self._driver.session, error)

    async def stop(self, frame: EndFrame) -> None:
        """Finish gracefully: the trailing transcripts are pushed before the ``EndFrame``."""
        await self._driver.finish(timeout=self._finish_timeout)
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._driver.abort()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._driver.abort()

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        """Send the audio (resampled to the model's rate) to the stream; never raises."""
        await self._driver.send(audio)
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            # A new utterance: like the base class, earlier finalize requests no longer mark
            # transcripts finalized (their transcripts still come, unmarked).
            self._frames.finalize.new_utterance()
            await self._frames.propose_turn_start()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            if self._endpointing == "vad":
                await self._driver.finalize(request=True)
            elif self._driver.rotate_pending:
                await self._driver.finalize(request=False)

    async def _process_assistant_turn(self, text: str) -> None:
        """Pipecat's assistant-turn hook: the reply joins the context of this and later tasks."""
        if not self._biasing.add_assistant_turn(text):
            return
        session = self._driver.session
        if session is not None and not session.failed:
            await session.stream.update_context(self._biasing.context)

    async def _update_settings(self, delta: STTSettings) -> dict[str, Any]:  # type: ignore[override]  # as in Pipecat
        """Apply a settings delta from the next task on: no reconnect, no audio lost.

        Between utterances the current task (which has only heard silence) is rotated at
        once, so the next words get the new settings; during an utterance the task is
        rotated at its end (the VAD stop, or in ``"server"`` endpointing the next final
        sentence). A change the model cannot serve (a model with another sample rate, an
        unsupported language) is reverted and reported as an ``APPLICATION`` error.
        """
        was_usable = self.is_usable
        changed = await super()._update_settings(delta)
        if not changed:
            return changed
        try:
            hotwords_error = await self._biasing.settings_changed(changed)
            parameters = self._recognition_parameters()
            session = self._driver.session
            if session is not None and not session.failed:
                session.stream.update_params(**parameters)
            else:
                self._check(self._driver.rate or self._target_rate(None))
        except (fr.ConfigurationError, fr.LocalProtocolError) as exc:
            revert(self._settings, changed)
            self._sync_model_name_to_metrics()
            await self.set_usable(was_usable)
            await self.push_error(
                f"Fun-ASR settings not applied: {exc}", exception=exc, category=ErrorCategory.APPLICATION
            )
            return {}
        if hotwords_error is not None:
            await self.push_error(hotwords_error, category=ErrorCategory.CONNECTIVITY)
        self._driver.rotate_pending = True  # at the end of the current utterance...
        if not (self._user_speaking or self._frames.turn_open):
            # ...or now: audio keeps flowing between turns, so a task is open on silence;
            # a fresh one lets the user's next words already get the new settings.
            await self._driver.finalize(request=False)
        return changed

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        """Pipecat's category of a core error: its :func:`funasr_realtime.classify` kind, mapped."""
        return error_category(exception)

    async def emit_stt_usage_metrics(self) -> None:
        """Report client-measured audio seconds and the server's billed seconds since the last report."""
        audio_seconds, self._stt_usage_pending_seconds = self._stt_usage_pending_seconds, 0.0
        billed = self._frames.take_billed()
        if audio_seconds or billed:
            await self.start_stt_usage_metrics(FunAsrSTTUsage(audio_seconds=audio_seconds, billed_seconds=billed))

    @traced_stt
    async def _handle_transcription(self, transcript: str, is_final: bool, language: Language | None = None) -> None:
        """Tracing hook: the decorator records the transcript on the STT span."""

    # ------------------------------------------------------------------ options

    def _target_rate(self, pipeline_rate: int | None) -> int:
        model = str(self._settings.model)
        return target_sample_rate(model, explicit=self._audio_sample_rate, pipeline_rate=pipeline_rate)

    def _params(self, rate: int) -> fr.RecognitionParams:
        return fr.RecognitionParams(**self._recognition_parameters(), sample_rate=rate)

    def _recognition_parameters(self) -> dict[str, Any]:
        return self._biasing.parameters()

    def _check(self, rate: int) -> None:
        fr.check_compatibility(self._params(rate), self._client.config.region)

    def _language(self) -> Language | None:
        """The configured language (of the next task)."""
        language = self._settings.language
        return to_language(language) if isinstance(language, str) else None
