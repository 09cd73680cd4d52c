"""Fun-ASR real-time speech-to-text for LiveKit Agents, on the ``funasr_realtime`` core client.

::

    from livekit.plugins import funasr_realtime

    session = AgentSession(stt=funasr_realtime.STT(language="en"), vad=silero.VAD.load(), ...)

:class:`STT` validates the options, pre-warms a connection and recognizes whole buffers;
:class:`~.stream.SpeechStream` (in :mod:`.stream`) maps a LiveKit stream onto the core's
:class:`funasr_realtime.RecognitionStream`. The other parts, one responsibility each:
:mod:`._options` (options and their validation), :mod:`._events` (sentences → LiveKit
``SpeechData``), :mod:`._errors` (the core's error kinds → LiveKit errors), :mod:`._audio`
(frames → PCM).

Context carryover (:mod:`._context`): the STT advertises LiveKit's ``chat_context`` and
``keyterms`` capabilities (unless the model has no context) and feeds the conversation's
recent turns and the session's key terms into every stream's Fun-ASR context.
Hot words (``hotwords=[...]``, :mod:`._hotwords`): a vocabulary ensured by content hash,
named by every stream from its next task on; the session's key terms join it (and the
context, for a model that takes it). If it cannot be had, tasks run without it and a
recoverable :class:`HotWordsUnavailable` error event says why.

Emotion (paraformer-realtime-8k-v2) is in each final's ``SpeechData.metadata``
(``emotion``, ``emotion_confidence``).

Audio is downmixed to mono before LiveKit resamples it, so stereo frames at any rate work.
A reconnect that could not replay everything (``Reconnected.dropped_ms > 0``) is never silent:
a warning is logged and a *recoverable* ``error`` event is emitted on the STT (an
:class:`AudioLost`); ``recognize()`` also puts ``funasr_dropped_ms`` in the FINAL's
``SpeechData.metadata``.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Never, Unpack

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError, stt
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer, is_given
from livekit.agents.voice.events import ConversationItemAddedEvent

import funasr_realtime as fr

from ._audio import buffer_pcm
from ._context import Carryover
from ._errors import AudioLost, report_reconnect, to_api_error
from ._events import merge_sentences
from ._hotwords import HotWordsUnavailable, HotWordVocabulary
from ._options import HotWords, RecognitionOptions, Settings, config_for, model_sample_rate
from .log import logger
from .models import Endpointing, FunAsrModels
from .stream import SpeechStream, Warm

__all__ = ["STT", "AudioLost", "HotWordsUnavailable", "RecognitionOptions", "SpeechStream"]

_RECOGNIZE_CHUNK_MS = 100


class STT(stt.STT[Never]):  # no plugin-specific events
    """Alibaba Cloud Fun-ASR (and Paraformer) real-time recognition as a LiveKit STT.

    Args:
        api_key: DashScope API key; defaults to ``$DASHSCOPE_API_KEY``, else the SDK's key
            file. Never logged. May be a function, sync or async, returning the key: asked on
            every connect, for keys that expire (``fr.mint_temporary_key``).
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
        hotwords: declarative hot words (strings, ``{"text", "weight", "lang"}`` dicts or
            ``funasr_realtime.HotWord``): a vocabulary holding them is created or reused by
            content for the model (see the module docstring). Not with ``vocabulary_id``.
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
        transport: how connections are opened; default a WebSocket to ``url``.
            ``"picows"`` is the fast transport (``funasr-realtime[fast]``). Pass
            ``funasr_realtime.testing.MockTransport(...)`` to test an agent with no server
            and no socket.

    Raises ``ValueError`` at once for impossible combinations (no key for Alibaba Cloud, a
    rate or language the model does not take, a model not served in the region).
    """

    def __init__(
        self,
        *,
        api_key: str | fr.KeyProvider | None = None,
        url: str | None = None,
        region: fr.Region | str | None = None,
        workspace: str | None = None,
        model: FunAsrModels | str = "fun-asr-realtime",
        language: str | None = None,
        sample_rate: int | None = None,
        vocabulary_id: str | None = None,
        hotwords: HotWords | None = None,
        max_sentence_silence: int | None = None,
        semantic_punctuation_enabled: bool | None = None,
        multi_threshold_mode_enabled: bool | None = None,
        speech_noise_threshold: float | None = None,
        endpointing: Endpointing = "framework",
        extra_params: dict[str, Any] | None = None,
        timeouts: fr.Timeouts | None = None,
        resilience: fr.Resilience | None = None,
        finish_timeout: float | None = None,
        transport: fr.TransportFactory | str | None = None,
    ) -> None:
        context = fr.model_offers(model, "context")
        keyterms = context or (hotwords is not None and fr.model_offers(model, "hotwords"))
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True,
                interim_results=True,
                aligned_transcript="word",
                offline_recognize=True,
                manual_flush=True,
                keyterms=keyterms,
                chat_context=context,
            )
        )
        self._client = fr.Client(
            api_key=api_key,
            url=url,
            region=region,
            workspace=workspace,
            timeouts=timeouts,
            resilience=resilience,
            transport=transport,
        )
        params = {
            "model": model,
            "sample_rate": sample_rate or model_sample_rate(model),
            "vocabulary_id": vocabulary_id,
            "max_sentence_silence": max_sentence_silence,
            "semantic_punctuation_enabled": semantic_punctuation_enabled,
            "multi_threshold_mode_enabled": multi_threshold_mode_enabled,
            "speech_noise_threshold": speech_noise_threshold,
            "extra": dict(extra_params or {}),
        }
        self._settings = Settings.create(
            params, language=language, endpointing=endpointing, region=self._region, hotwords=hotwords
        )
        self._rate_given = sample_rate is not None
        self._finish_timeout = finish_timeout
        self._streams: weakref.WeakSet[SpeechStream] = weakref.WeakSet()
        self._warm: Warm | None = None
        self._carryover = Carryover()
        timeout = self._client.config.timeouts.connect
        self._hotwords = HotWordVocabulary(self._client.vocabularies, timeout, self._report_recoverable)

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
        settings = self._settings_for(language)
        warm, self._warm = self._warm, None
        self._prepare_hotwords(settings)
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
        self._prepare_hotwords(self._settings)
        for stream in list(self._streams):
            try:
                stream.update_options(**changes)
            except ValueError as exc:
                logger.warning("an open stream keeps its options (new streams get them): %s", exc)

    def _push_conversation_item(self, ev: ConversationItemAddedEvent) -> None:
        """LiveKit's chat-context hook: a user or assistant turn joins the context of every stream."""
        item = ev.item
        if not self.capabilities.chat_context or getattr(item, "type", None) != "message":
            super()._push_conversation_item(ev)  # LiveKit's "not supported" warning, or a no-op
            return
        if self._carryover.add_turn(item.role, item.text_content):  # type: ignore[union-attr]
            self._apply_context()

    def _update_session_keyterms(self, keyterms: list[str]) -> None:
        """LiveKit's keyterms hook: the session's key terms join the context of every stream
        and, with ``hotwords`` given, the hot words of their next task."""
        if not self.capabilities.keyterms:
            super()._update_session_keyterms(keyterms)
            return
        terms = tuple(dict.fromkeys(term.strip() for term in keyterms if term.strip()))
        self._hotwords.set_keyterms(terms)
        self._prepare_hotwords(self._settings)
        if self.capabilities.chat_context:  # the model takes context
            self._carryover.set_keyterms(terms)
            self._apply_context()

    # ------------------------------------------------------------------ hot words

    def _prepare_hotwords(self, settings: Settings) -> None:
        self._hotwords.prepare(settings.params.model, settings.hotwords)

    def _report_recoverable(self, error: APIError) -> None:
        self._emit_error(error, recoverable=True)

    def _apply_context(self) -> None:
        context = self._carryover.messages()
        self._settings = self._settings.with_context(context)
        for stream in list(self._streams):
            stream.update_context(context)

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
        self._prepare_hotwords(self._settings)
        core = self._client.stream(self._settings.params)
        connecting = asyncio.ensure_future(core.connect())
        connecting.add_done_callback(_log_prewarm_failure)
        self._warm = Warm(core, connecting)

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
        settings = self._settings_for(language)
        if settings.hotwords is not None:
            vocabulary_id = await self._hotwords.vocabulary_for(settings.params.model, settings.hotwords)
            settings = settings.with_vocabulary(vocabulary_id)
        pcm = buffer_pcm(buffer, settings.params.sample_rate)
        config = config_for(self._client, conn_options)
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
                    if (lost := report_reconnect(event)) is not None:
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

    def _settings_for(self, language: NotGivenOr[str | None]) -> Settings:
        """The plugin's settings, with a per-call ``language`` override when one is given."""
        if not is_given(language):
            return self._settings
        return self._settings.updated({"language": language}, region=self._region, derive_rate=False)

    @property
    def _region(self) -> fr.Region | None:
        return self._client.config.region


def _log_prewarm_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.warning("prewarm: could not open a connection (%s); the stream will retry", error)
