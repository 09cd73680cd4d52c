"""Fun-ASR real-time speech-to-text for LiveKit Agents, on the ``funasr_realtime`` core client.

::

    from livekit.plugins import funasr_realtime

    session = AgentSession(stt=funasr_realtime.STT(language="en"), vad=silero.VAD.load(), ...)

How LiveKit's calls map onto the core's :class:`funasr_realtime.RecognitionStream`:

* audio frames (resampled to the model's rate by LiveKit's base class) → ``send_audio``;
* ``flush()`` (LiveKit sends it at the end of speech because ``manual_flush=True``) →
  ``finalize()``: the Fun-ASR task is finished so its final comes now, and the next audio
  starts a new task on a standby connection: no audio waits and none is lost;
* ``end_input()`` → ``finish()``: the wait for the trailing finals follows the results (it
  lasts while they keep arriving, bounded by the audio still uncovered);
* ``aclose()`` → ``aclose()``: abort; it returns once the core stream's tasks are done.

Audio is downmixed to mono before LiveKit resamples it, so stereo frames at any rate work.
A reconnect that could not replay everything (``Reconnected.dropped_ms > 0``) is never silent:
a warning is logged and a *recoverable* ``error`` event is emitted on the STT (an
:class:`AudioLost`); ``recognize()`` also puts ``funasr_dropped_ms`` in the FINAL's
``SpeechData.metadata``.

The core reconnects and replays audio by itself after transient failures, so LiveKit's own
retry only runs when the core's budget is spent; it then gets the audio the failed attempt
had not finalized (see :class:`~._audio.AudioLedger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import weakref
from dataclasses import dataclass
from typing import Any, Never, TypedDict, Unpack, cast

from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectionError, APIConnectOptions, LanguageCode, stt
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer, is_given

import funasr_realtime as fr
from funasr_realtime.protocol import check_compatibility, find_model

from ._audio import AudioLedger, buffer_pcm, frame_pcm, mono_frame
from ._errors import to_api_error
from ._events import merge_sentences, speech_data
from .log import logger
from .models import Endpointing, FunAsrModels

__all__ = ["STT", "AudioLost", "RecognitionOptions", "SpeechStream"]

_ENDPOINTING = ("framework", "server")
_AUTO = frozenset({"", "auto", "multi"})  # language values that mean "detect it"
_RECOGNIZE_CHUNK_MS = 100


class AudioLost(APIConnectionError):
    """Audio the core could not replay after a reconnect: it was never recognized.

    Emitted as a *recoverable* ``error`` event on the STT (recognition goes on; AgentSession
    ignores recoverable errors, an application listening to ``stt.on("error")`` sees it).
    ``dropped_ms`` is how much was lost; ``event`` is the core's :class:`funasr_realtime.Reconnected`.
    """

    def __init__(self, event: fr.Reconnected) -> None:
        super().__init__(
            f"Fun-ASR reconnected after {event.error} but {event.dropped_ms} ms of audio outlasted the replay "
            "buffer and were not recognized",
            retryable=True,
        )
        self.event = event
        self.dropped_ms = event.dropped_ms


class RecognitionOptions(TypedDict, total=False):
    """What :meth:`STT.update_options` and :meth:`SpeechStream.update_options` can change.

    The names are the constructor's; ``None`` means "not sent" (the service default), and
    ``language=None`` means auto-detect.
    """

    model: FunAsrModels | str
    language: str | None
    vocabulary_id: str | None
    max_sentence_silence: int | None
    semantic_punctuation_enabled: bool | None
    multi_threshold_mode_enabled: bool | None
    speech_noise_threshold: float | None
    endpointing: Endpointing


@dataclass(frozen=True, slots=True)
class _Settings:
    """The options of an STT or a stream: the core's validated parameters plus plugin-only ones."""

    params: fr.RecognitionParams
    language: LanguageCode | None  # None: auto-detect (no language_hints sent)
    endpointing: Endpointing

    def updated(self, changes: RecognitionOptions, *, region: fr.Region | None, derive_rate: bool) -> _Settings:
        """A validated copy with ``changes``; raises ``ValueError`` (ConfigurationError) if invalid.

        ``derive_rate``: a model change also moves the sample rate to the new model's own
        (an STT whose rate was not given explicitly); a running stream's rate never changes.
        """
        values: dict[str, Any] = dict(changes)
        endpointing = _check_endpointing(values.pop("endpointing", self.endpointing))
        language = self.language
        if "language" in values:
            language = _language(values.pop("language"))
            values["language_hints"] = _hints(language)
        if derive_rate and "model" in values:
            values["sample_rate"] = model_sample_rate(values["model"])
        params = self.params.replace(**values)
        check_compatibility(params, region)
        return _Settings(params, language, endpointing)


@dataclass(slots=True)
class _Warm:
    """A core stream whose connection :meth:`STT.prewarm` is opening for the next stream."""

    core: fr.RecognitionStream
    connecting: asyncio.Task[None]

    async def discard(self) -> None:
        """Cancel the connect and close the stream; returns once neither has a task left."""
        self.connecting.cancel()
        await asyncio.gather(self.connecting, return_exceptions=True)
        await self.core.aclose()


class STT(stt.STT[Never]):  # no plugin-specific events
    """Alibaba Cloud Fun-ASR (and Paraformer) real-time recognition as a LiveKit STT.

    Args:
        api_key: DashScope API key; defaults to ``$DASHSCOPE_API_KEY``. Never logged.
        url: WebSocket endpoint (``$DASHSCOPE_WEBSOCKET_BASE_URL``, then ``region``'s, then
            Singapore). A local ``funasr-realtime serve`` URL works without a key.
        region: ``"intl"`` (Singapore, default) or ``"cn"`` (Beijing); keys are region-bound.
        workspace: Model Studio workspace id (uses its dedicated endpoint).
        model: ``fun-asr-realtime`` (16 kHz), ``fun-asr-flash-8k-realtime`` (8 kHz, Beijing),
            ``paraformer-realtime-v2`` (any rate), ...
        language: a language hint (``"zh"``, ``"en"``, ``"ja"``; LiveKit spellings such as
            ``"en-US"`` are reduced to the base code). ``None`` lets the model detect it.
        sample_rate: the rate sent to the model; default the model's own (16 kHz, or 8 kHz
            for the 8k models). LiveKit's base class resamples 24/48 kHz room audio to it.
        vocabulary_id: a hot-word vocabulary created in Model Studio.
        max_sentence_silence, semantic_punctuation_enabled, multi_threshold_mode_enabled,
            speech_noise_threshold: Fun-ASR's sentence segmentation (None: service default).
        endpointing: ``"framework"`` (LiveKit's VAD/turn detector ends turns by flushing)
            or ``"server"`` (Fun-ASR's sentence ends do); see :data:`.models.Endpointing`.
        extra_params: further ``run-task`` parameters, sent verbatim.
        timeouts, resilience: the core's bounded waits and its reconnect/replay policy.
        finish_timeout: an overall bound (seconds) on the wait for the trailing finals at
            ``end_input()`` and at the end of ``recognize()``. ``None`` (default): the core's
            own wait, which lasts while results keep arriving (``timeouts.stop`` after the
            last one, at most ``timeouts.stop`` plus the duration of the audio still uncovered).

    Raises ``ValueError`` at once for impossible combinations (no key for Alibaba Cloud, a
    rate or language the model does not take, a model not served in the region).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        url: str | None = None,
        region: fr.Region | str | None = None,
        workspace: str | None = None,
        model: FunAsrModels | str = "fun-asr-realtime",
        language: str | None = None,
        sample_rate: int | None = None,
        vocabulary_id: str | None = None,
        max_sentence_silence: int | None = None,
        semantic_punctuation_enabled: bool | None = None,
        multi_threshold_mode_enabled: bool | None = None,
        speech_noise_threshold: float | None = None,
        endpointing: Endpointing = "framework",
        extra_params: dict[str, Any] | None = None,
        timeouts: fr.Timeouts | None = None,
        resilience: fr.Resilience | None = None,
        finish_timeout: float | None = None,
    ) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True,
                interim_results=True,
                aligned_transcript="word",
                offline_recognize=True,
                manual_flush=True,
            )
        )
        self._client = fr.Client(
            api_key=api_key, url=url, region=region, workspace=workspace, timeouts=timeouts, resilience=resilience
        )
        language_code = _language(language)
        params = fr.RecognitionParams(
            model=model,
            sample_rate=sample_rate or model_sample_rate(model),
            language_hints=_hints(language_code),
            vocabulary_id=vocabulary_id,
            max_sentence_silence=max_sentence_silence,
            semantic_punctuation_enabled=semantic_punctuation_enabled,
            multi_threshold_mode_enabled=multi_threshold_mode_enabled,
            speech_noise_threshold=speech_noise_threshold,
            extra=dict(extra_params or {}),
        )
        check_compatibility(params, self._client.config.region)
        self._settings = _Settings(params, language_code, _check_endpointing(endpointing))
        self._rate_given = sample_rate is not None
        self._finish_timeout = finish_timeout
        self._streams: weakref.WeakSet[SpeechStream] = weakref.WeakSet()
        self._warm: _Warm | None = None

    @property
    def model(self) -> str:
        return self._settings.params.model

    @property
    def provider(self) -> str:
        return "DashScope"

    @property
    def sample_rate(self) -> int:
        """The rate audio is sent at (LiveKit resamples streamed frames to it)."""
        return self._settings.params.sample_rate

    def stream(
        self,
        *,
        language: NotGivenOr[str | None] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        """A streaming session (call it inside a running event loop, as LiveKit does).

        The first stream after :meth:`prewarm` takes over the pre-opened connection.
        """
        settings = self._settings
        if is_given(language):
            settings = settings.updated({"language": language}, region=self._region, derive_rate=False)
        warm, self._warm = self._warm, None
        stream = SpeechStream(
            stt=self,
            client=self._client,
            settings=settings,
            conn_options=conn_options,
            warm=warm,
            finish_timeout=self._finish_timeout,
        )
        self._streams.add(stream)
        return stream

    def update_options(self, **changes: Unpack[RecognitionOptions]) -> None:
        """Change options for new streams and, from their next task, for the open ones.

        Open streams apply the change at their next task boundary (the next flush), so no
        audio is lost and the running utterance keeps its settings. A stream that cannot take
        it (a model with another sample rate) keeps its options and logs why.
        """
        self._settings = self._settings.updated(changes, region=self._region, derive_rate=not self._rate_given)
        for stream in list(self._streams):
            try:
                stream.update_options(**changes)
            except ValueError as exc:
                logger.warning("an open stream keeps its options (new streams get them): %s", exc)

    def prewarm(self) -> None:
        """Open a connection now, for the next :meth:`stream` (LiveKit calls this when the
        agent starts), so the first utterance pays no handshake.

        Needs a running event loop (a no-op without one). A failure is logged, and the stream
        connects (and reports the error) on its own.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            logger.debug("prewarm() outside an event loop: skipped")
            return
        if self._warm is not None:
            return
        core = self._client.stream(self._settings.params)
        connecting = asyncio.ensure_future(core.connect())
        connecting.add_done_callback(_log_prewarm_failure)
        self._warm = _Warm(core, connecting)

    async def aclose(self) -> None:
        """Close the pre-warmed connection and every open stream."""
        warm, self._warm = self._warm, None
        if warm is not None:
            await warm.discard()
        for stream in list(self._streams):
            await stream.aclose()

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str | None] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        """Recognize a whole buffer with one core stream; all finals merge into one FINAL.

        The buffer is sent as fast as the core's flow control allows (it paces a producer
        that runs ahead of recognition), and the wait for the last finals follows the results,
        so a long buffer needs no fixed timeout. Audio lost to an outage is reported (see the
        module docstring) and counted in ``SpeechData.metadata["funasr_dropped_ms"]``.
        """
        settings = self._settings
        if is_given(language):
            settings = settings.updated({"language": language}, region=self._region, derive_rate=False)
        pcm = buffer_pcm(buffer, settings.params.sample_rate)
        config = _config_for(self._client, conn_options)
        core = fr.RecognitionStream(config, settings.params, resilience=self._client.resilience)
        finals: list[fr.Sentence] = []
        task_id = ""
        dropped_ms = 0

        async def collect() -> None:
            nonlocal task_id, dropped_ms
            async for event in core.events():
                if isinstance(event, fr.SentenceEvent) and event.is_final and event.sentence.text:
                    finals.append(event.sentence)
                    task_id = event.task_id
                elif isinstance(event, fr.Reconnected):
                    dropped_ms += event.dropped_ms
                    if (lost := _report_reconnect(event)) is not None:
                        self._emit_error(lost, recoverable=True)

        collector = asyncio.create_task(collect(), name="funasr-realtime-recognize")
        try:
            await core.connect()
            chunk = settings.params.sample_rate * 2 * _RECOGNIZE_CHUNK_MS // 1000
            for start in range(0, len(pcm), chunk):
                await core.send_audio(pcm[start : start + chunk])
            await core.finish(timeout=self._finish_timeout)
            await collector
        except fr.FunAsrError as exc:
            raise to_api_error(exc, request_id=task_id) from exc
        finally:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)
            await core.aclose()
        data = merge_sentences(finals, language=settings.language)
        if dropped_ms:
            data.metadata = {**(data.metadata or {}), "funasr_dropped_ms": dropped_ms}
        return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT, request_id=task_id, alternatives=[data])

    @property
    def _region(self) -> fr.Region | None:
        return self._client.config.region


class SpeechStream(stt.RecognizeStream):
    """One LiveKit recognition stream over one core stream (a new one per LiveKit retry).

    Events: START_OF_SPEECH before the first text of an utterance; INTERIM_TRANSCRIPT for
    partials; FINAL_TRANSCRIPT per final sentence (seconds on the stream timeline plus
    ``start_time_offset``, word timings, language); END_OF_SPEECH when the turn ends (after
    the task a flush ended, or after each final with ``endpointing="server"``);
    RECOGNITION_USAGE once per Fun-ASR task with its billed seconds.
    """

    def __init__(
        self,
        *,
        stt: STT,
        client: fr.Client,
        settings: _Settings,
        conn_options: APIConnectOptions,
        warm: _Warm | None,
        finish_timeout: float | None,
    ) -> None:
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=settings.params.sample_rate)
        self._client = client
        self._settings = settings
        self._warm = warm
        self._finish_timeout = finish_timeout
        self._core: fr.RecognitionStream | None = None
        self._ledger = AudioLedger(settings.params.sample_rate, client.resilience.replay_seconds)
        self._speaking = False
        self._request_id = ""
        self._offset_after_attempt: float | None = None
        self._aborting = False  # aclose() ran: the input channel closed for an abort, not an end

    def update_options(self, **changes: Unpack[RecognitionOptions]) -> None:
        """Apply options from the next Fun-ASR task on (the next flush); no audio is lost.

        Raises ``ValueError`` if they cannot work (e.g. a model with another sample rate:
        open a new stream for that).
        """
        settings = self._settings.updated(changes, region=self._client.config.region, derive_rate=False)
        if self._core is not None:
            self._core.update_params(**_param_changes(self._core.params, settings.params))
        self._settings = settings

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue a frame of any rate and channel count: downmixed to mono, then resampled.

        The base class resamples to the model's rate with a one-channel resampler, so a
        stereo frame must be mono before it gets there.
        """
        super().push_frame(mono_frame(frame))

    async def aclose(self) -> None:
        """Abort; returns once the core stream (and a pre-warmed one) has no task left.

        The base class cancels ``_run`` and waits for it; ``_run``'s ``finally`` awaits the
        core stream's ``aclose()``.
        """
        # The base class closes the input channel, then cancels _run: without this flag the
        # sender would take the closed channel for end_input() and start a graceful finish()
        # that the cancellation then cuts in the middle of closing the connections.
        self._aborting = True
        await super().aclose()
        warm, self._warm = self._warm, None
        if warm is not None:  # closed before it ever ran
            await warm.discard()

    # ------------------------------------------------------------------ one attempt

    async def _run(self) -> None:
        if self._offset_after_attempt is not None:
            # A LiveKit retry: the base class moved start_time_offset by the failed attempt's
            # wall time, as if its audio were lost and times restarted at zero. The ledger
            # replays that audio and keeps one timeline, so the offset must not move.
            self.start_time_offset = self._offset_after_attempt
        core, warming = await self._take_core()
        try:
            await self._connect(core, warming)
            base_ms = self._ledger.start_ms
            replay = self._ledger.pending()
            if replay:
                logger.info("replaying %d ms of unfinalized audio into a new stream", len(replay) * 500 // self._rate)
                await core.send_audio(replay)
            await self._pump(core, base_ms)
        except fr.FunAsrError as exc:
            raise to_api_error(exc, request_id=self._request_id) from exc
        finally:
            self._core = None
            self._offset_after_attempt = self.start_time_offset
            await core.aclose()

    async def _take_core(self) -> tuple[fr.RecognitionStream, asyncio.Task[None] | None]:
        """The pre-warmed core stream (and its connect task) if it fits, else a new one.

        The stream becomes ``self._core``, which :meth:`update_options` updates.
        """
        params = self._settings.params
        warm, self._warm = self._warm, None
        if warm is not None and (warm.core.params.sample_rate, warm.core.params.format) == (
            params.sample_rate,
            params.format,
        ):
            warm.core.update_params(**_param_changes(warm.core.params, params))
            self._core = warm.core
            return warm.core, warm.connecting
        if warm is not None:  # options changed the sample rate since prewarm()
            await warm.discard()
        self._core = fr.RecognitionStream(
            _config_for(self._client, self._conn_options), params, resilience=self._client.resilience
        )
        return self._core, None

    async def _connect(self, core: fr.RecognitionStream, warming: asyncio.Task[None] | None) -> None:
        started = time.perf_counter()
        reused = False
        if warming is not None:
            with contextlib.suppress(fr.FunAsrError):  # connect() below retries and reports it
                await warming
                reused = True
        await core.connect()  # returns at once while the pre-warmed connection is open
        self._report_connection_acquired(time.perf_counter() - started, reused)

    async def _pump(self, core: fr.RecognitionStream, base_ms: int) -> None:
        """Send audio and read events concurrently until the core stream ends or fails."""
        sender = asyncio.create_task(self._send(core), name="funasr-realtime-send")
        receiver = asyncio.create_task(self._receive(core, base_ms), name="funasr-realtime-receive")
        try:
            await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_EXCEPTION)
            if receiver.done():
                receiver.result()  # its error comes in order, after every event before it
            if sender.done() and sender.exception() is not None:
                # The same failure reaches the receiver after the events that preceded it:
                # let those out first (bounded), then raise.
                await asyncio.wait((receiver,), timeout=self._finish_timeout)
                if receiver.done():
                    receiver.result()
                sender.result()
            await receiver
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)

    async def _send(self, core: fr.RecognitionStream) -> None:
        async for item in self._input_ch:
            if isinstance(item, rtc.AudioFrame):
                pcm = frame_pcm(item)
                self._ledger.append(pcm)
                await core.send_audio(pcm)
            else:  # the flush marker: LiveKit's end of speech
                await core.finalize()
        if not self._aborting:  # end_input(): wait for the trailing finals
            await core.finish(timeout=self._finish_timeout)

    async def _receive(self, core: fr.RecognitionStream, base_ms: int) -> None:
        async for event in core.events():
            if isinstance(event, fr.SentenceEvent):
                self._on_sentence(event, base_ms)
            elif isinstance(event, fr.TaskCompleted):
                self._on_task_completed(event, base_ms)
            elif (lost := _report_reconnect(event)) is not None:
                self._emit_error(lost, recoverable=True)

    # ------------------------------------------------------------------ events

    def _on_sentence(self, event: fr.SentenceEvent, base_ms: int) -> None:
        sentence = event.sentence
        self._request_id = event.task_id
        if sentence.is_final and sentence.end_time is not None:
            self._ledger.release_until(base_ms + sentence.end_time)
        if sentence.text:
            if not self._speaking:
                self._speaking = True
                self._emit(stt.SpeechEventType.START_OF_SPEECH)
            data = speech_data(
                sentence, base_ms=base_ms, offset=self.start_time_offset, language=self._settings.language
            )
            kind = stt.SpeechEventType.FINAL_TRANSCRIPT if sentence.is_final else stt.SpeechEventType.INTERIM_TRANSCRIPT
            self._emit(kind, alternatives=[data])
        if sentence.is_final and self._settings.endpointing == "server":
            self._end_of_speech()

    def _on_task_completed(self, event: fr.TaskCompleted, base_ms: int) -> None:
        metrics = event.metrics
        self._request_id = metrics.task_id
        self._ledger.release_until(base_ms + metrics.offset_ms + metrics.audio_bytes * 500 // self._rate)
        # The task is over: whatever ended it (a flush, the end of input, an idle mute),
        # the utterance it carried has ended too.
        self._end_of_speech()
        seconds: float = metrics.audio_bytes / (2 * self._rate)  # if the service reports no usage
        if metrics.billed_seconds is not None:
            seconds = metrics.billed_seconds
        if seconds > 0:
            self._emit(
                stt.SpeechEventType.RECOGNITION_USAGE,
                usage=stt.RecognitionUsage(audio_duration=float(seconds)),
            )

    def _end_of_speech(self) -> None:
        if self._speaking:
            self._speaking = False
            self._emit(stt.SpeechEventType.END_OF_SPEECH)

    def _emit(
        self,
        kind: stt.SpeechEventType,
        *,
        alternatives: list[stt.SpeechData] | None = None,
        usage: stt.RecognitionUsage | None = None,
    ) -> None:
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=kind, request_id=self._request_id, alternatives=alternatives or [], recognition_usage=usage
            )
        )

    @property
    def _rate(self) -> int:
        return self._settings.params.sample_rate


# ---------------------------------------------------------------------- helpers


def model_sample_rate(model: str) -> int:
    """The rate to send a model: 16 kHz where it takes it, else its only rate (8k models)."""
    spec = find_model(model)
    if spec is None or spec.sample_rates is None or 16000 in spec.sample_rates:
        return 16000
    return min(spec.sample_rates)


def _language(language: str | None) -> LanguageCode | None:
    if language is None or language.strip().lower() in _AUTO:
        return None
    return LanguageCode(language)


def _hints(language: LanguageCode | None) -> tuple[str, ...] | None:
    return None if language is None else (language.language,)


def _check_endpointing(value: str) -> Endpointing:
    if value not in _ENDPOINTING:
        raise ValueError(f"endpointing must be one of {_ENDPOINTING}, not {value!r}")
    return cast(Endpointing, value)


def _param_changes(old: fr.RecognitionParams, new: fr.RecognitionParams) -> dict[str, Any]:
    """The fields that differ, for ``update_params`` (which refuses rate and format)."""
    before, after = old.model_dump(), new.model_dump()
    return {k: v for k, v in after.items() if before[k] != v and k not in ("sample_rate", "format")}


def _config_for(client: fr.Client, conn_options: APIConnectOptions) -> fr.ClientConfig:
    """The client's config, with the connect wait bounded by LiveKit's ``conn_options.timeout``."""
    timeouts = client.config.timeouts
    if conn_options.timeout >= timeouts.connect:
        return client.config
    return dataclasses.replace(client.config, timeouts=dataclasses.replace(timeouts, connect=conn_options.timeout))


def _report_reconnect(event: fr.Reconnected) -> AudioLost | None:
    """Log a core reconnect; a loss is a warning and returns the error event to emit."""
    log = logger.warning if event.dropped_ms else logger.info
    log(
        "recovered from %s after %.0f ms: %d ms replayed, %d ms lost",
        event.error,
        event.downtime_ms,
        event.replayed_ms,
        event.dropped_ms,
    )
    return AudioLost(event) if event.dropped_ms > 0 else None


def _log_prewarm_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.warning("prewarm: could not open a connection (%s); the stream will retry", error)
