"""``Recognition``: the SDK's real-time recognition class over the asyncio client.

Same constructor, methods and callbacks as ``dashscope.audio.asr.Recognition``
(docs/PROTOCOL.md §6); see :mod:`funasr_realtime.compat` for what behaves better.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from ..audio import file_pcm
from ..audio.probe import AudioFile, probe, sniff
from ..client import ClientConfig, TaskMetrics
from ..protocol import FunAsrError, RecognitionParams
from . import _loop
from ._options import check_parameters, resolve
from ._session import FileSession, StreamingSession
from ._sinks import CallbackSink, Collector
from .errors import InvalidParameter
from .result import RecognitionCallback, RecognitionResult

__all__ = ["NOT_MEASURED", "Recognition"]

logger = logging.getLogger(__name__)

#: What the delay getters return when nothing was measured (no task yet, no text result...).
NOT_MEASURED = -1.0

# Backstop added to waits whose work is bounded by the client's own timeouts.
_MARGIN = 2.0
# call() sends the file's PCM in frames of this much audio.
_FRAME_MS = 100


class Recognition:
    """Real-time speech recognition, compatible with ``dashscope.audio.asr.Recognition``.

    ::

        import funasr_realtime.compat as dashscope
        from funasr_realtime.compat import Recognition

        recognition = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None)
        result = recognition.call("speech.wav")

    The positional parameters are SDK 2.0.2's, in its order: ``model, callback, format,
    sample_rate, workspace, disfluency_removal_enabled, diarization_enabled, speaker_count,
    timestamp_alignment_enabled, special_word_filter, audio_event_detection_enabled``; the
    other named parameters are keyword-only. Parameters that are None are not sent.
    Keywords beyond the named ones are run-task parameters, sent as given, except the
    transport options ``api_key``, ``workspace``, ``headers``, ``base_address``,
    ``request_timeout`` (connect timeout, seconds) and ``allow_insecure``.
    Invalid named parameters raise :class:`~funasr_realtime.ConfigurationError` here.
    """

    def __init__(  # noqa: PLR0917  (the SDK's positional parameters)
        self,
        model: str,
        callback: RecognitionCallback | None,
        format: str,
        sample_rate: int,
        workspace: str | None = None,
        disfluency_removal_enabled: bool | None = None,
        diarization_enabled: bool | None = None,
        speaker_count: int | None = None,
        timestamp_alignment_enabled: bool | None = None,
        special_word_filter: str | None = None,
        audio_event_detection_enabled: bool | None = None,
        *,
        semantic_punctuation_enabled: bool | None = None,
        max_sentence_silence: int | None = None,
        multi_threshold_mode_enabled: bool | None = None,
        punctuation_prediction_enabled: bool | None = None,
        heartbeat: bool | None = None,
        language_hints: list[str] | None = None,
        speech_noise_threshold: float | None = None,
        vocabulary_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.model = model
        self.format = format
        self.sample_rate = sample_rate
        self._callback = callback
        self._options: dict[str, Any] = {
            "workspace": workspace,
            "disfluency_removal_enabled": disfluency_removal_enabled,
            # Named in SDK 2.0.2, undocumented for real-time models: sent as given (extra).
            "diarization_enabled": diarization_enabled,
            "speaker_count": speaker_count,
            "timestamp_alignment_enabled": timestamp_alignment_enabled,
            "special_word_filter": special_word_filter,
            "audio_event_detection_enabled": audio_event_detection_enabled,
            "semantic_punctuation_enabled": semantic_punctuation_enabled,
            "max_sentence_silence": max_sentence_silence,
            "multi_threshold_mode_enabled": multi_threshold_mode_enabled,
            "punctuation_prediction_enabled": punctuation_prediction_enabled,
            "heartbeat": heartbeat,
            "language_hints": language_hints,
            "speech_noise_threshold": speech_noise_threshold,
            "vocabulary_id": vocabulary_id,
            **kwargs,
        }
        self._check_params()
        self._lock = threading.RLock()  # re-entrant: stop() may run in a signal handler mid-send
        self._running = False
        self._why_stopped = ""
        self._session: StreamingSession | FileSession | None = None
        self._sink: CallbackSink | None = None
        self._config: ClientConfig | None = None
        self._last_request_id = ""
        self._last_response: RecognitionResult | None = None

    # ------------------------------------------------------------------ streaming

    def start(self, phrase_id: str | None = None, **kwargs: Any) -> None:
        """Start a streaming task; returns once it is ready for audio and ``on_open`` returned.

        Connection and task start are bounded by the connect and task-started timeouts
        (10 s each). If the task cannot start (bad key, unreachable server, rejected
        parameters), ``on_error`` then ``on_close`` are called instead and later calls
        raise :class:`InvalidParameter`. Raises :class:`InvalidParameter` if already
        running, :class:`~funasr_realtime.ConfigurationError` for invalid options.
        """
        if self._callback is None:
            raise InvalidParameter("start() needs a callback: Recognition(..., callback=RecognitionCallback())")
        with self._lock:
            if self._running:
                raise InvalidParameter("Speech recognition has started.")
            params, config = self._resolve(phrase_id, kwargs)
            sink = CallbackSink(self, self._callback)
            session = StreamingSession(config, params, sink)
            self._begin(session, config)
            self._sink = sink
        _run_in_background(session)
        _wait(sink.settled, config.timeouts.connect + config.timeouts.task_started + _MARGIN, "on_open")

    def send_audio_frame(self, buffer: bytes) -> None:
        """Send audio (about 100 ms per call is best): queued, sent in order by the network
        thread; returns at once, unless more than 64 kB are still queued (the socket is backed
        up), then once there is room again (at most the send timeout, 10 s).

        Results arrive through ``on_event`` whenever the server sends them, whether or not
        audio is being sent. ``stop()`` sends whatever is queued before finishing. Raises
        :class:`InvalidParameter` when not running (the reason is appended after a failure,
        which ``on_error`` reports too; a failed send of earlier audio is reported here).
        """
        with self._lock:
            session, config, _ = self._streaming_session()
            try:
                backed_up = session.put(bytes(buffer))
            except FunAsrError as exc:
                raise self._send_failed(exc) from exc
        if backed_up:
            try:
                session.wait_for_room(config.timeouts.send + _MARGIN)
            except FunAsrError as exc:
                raise self._send_failed(exc) from exc

    def stop(self, timeout: float | None = None) -> None:
        """Finish the task: blocks until its last results, ``on_complete`` (or ``on_error``)
        and ``on_close`` were delivered.

        Waiting for the server is bounded by ``timeout`` (default: the stop timeout, 10 s);
        when it runs out the connection is dropped and ``on_error`` reports a 504 ``Timeout``.
        Raises :class:`InvalidParameter` when not running. Called from a callback, it does
        not wait for the callbacks that follow the current one.
        """
        with self._lock:
            session, config, sink = self._streaming_session()
            self._running = False
        inside_callback = sink.thread.is_current
        if not inside_callback:
            _wait(sink.settled, config.timeouts.connect + config.timeouts.task_started + _MARGIN, "on_open")
        bound = config.timeouts.stop if timeout is None else timeout
        _loop.call(session.finish(bound), bound + config.timeouts.send + _MARGIN, "stop")
        if not inside_callback:
            _wait(sink.finished, bound + _MARGIN, "on_complete and on_close")

    def update_context(self, payload_input: dict[str, Any]) -> None:
        """Send new context to the running task (Fun-ASR ``continue-task``), as the SDK does."""
        if payload_input is None:
            raise InvalidParameter("Context is required.")
        with self._lock:
            session, config, _ = self._streaming_session()
        try:
            # After the audio queued before it (which may wait for the socket once: two sends).
            _loop.call(session.update_context(payload_input), 2 * config.timeouts.send + _MARGIN, "send")
        except FunAsrError as exc:
            raise self._send_failed(exc) from exc

    # ------------------------------------------------------------------ one file

    def call(self, file: str | Path, phrase_id: str | None = None, **kwargs: Any) -> RecognitionResult:
        """Recognize a whole file; returns the final sentences (``get_sentence()``, a list).

        The file is checked against ``format`` first
        (:func:`~funasr_realtime.audio.probe.probe`): ``FileNotFoundError``,
        ``IsADirectoryError``, :class:`~funasr_realtime.compat.InputDataRequired`
        (empty) or :class:`~funasr_realtime.AudioError` (content does not match) are raised
        before connecting. It is then converted to PCM at ``sample_rate`` on the client
        (stereo downmixed, other rates resampled, .m4a decoded) and streamed in 100 ms
        frames as fast as the stream's flow control allows; a dropped connection is retried
        with replay, and audio lost that way is logged as a warning. ``format="pcm"`` on a
        WAV file is accepted as the SDK accepts it, with a warning: the header is stripped
        (the SDK sends it as audio). Failures of the service are returned as a result with
        ``status_code != 200``, keeping the finals received before the failure.
        Callbacks are not used.
        """
        with self._lock:
            if self._running:
                raise InvalidParameter("Speech recognition has been called.")
            audio = _probe_as_the_sdk_would(file, self.format, self.sample_rate)
            params, config = self._resolve(phrase_id, kwargs)
            collector = Collector(self)
            # The wire carries PCM whatever the file is: retries, replay and rotation then work.
            session = FileSession(config, params.replace(format="pcm"), collector, name=audio.path.name)
            self._begin(session, config)
        try:
            return self._call(audio, session, collector, config)
        finally:
            with self._lock:
                self._running = False

    def _call(
        self, audio: AudioFile, session: FileSession, collector: Collector, config: ClientConfig
    ) -> RecognitionResult:
        _run_in_background(session)
        _wait(collector.settled, config.timeouts.connect + config.timeouts.task_started + _MARGIN, "task start")
        resilience = session.resilience
        # finish() follows progress: at most the stop timeout plus the audio not yet covered,
        # plus an outage the stream may ride out. This bound is only a backstop.
        audio_s = (audio.duration_ms or 0) / 1000
        drain = config.timeouts.stop + audio_s + resilience.max_outage + _MARGIN
        if collector.error is None and self._stream_file(audio, session, config):
            _loop.call(session.finish(), drain, "stop")
        _wait(collector.finished, drain + _MARGIN, "the end of the task")
        result = collector.result()
        self._last_response = result
        return result

    def _stream_file(self, audio: AudioFile, session: FileSession, config: ClientConfig) -> bool:
        """Send the file as PCM frames; False if the stream failed meanwhile (already reported).

        ``send`` waits while the stream paces a faster-than-real-time sender, at most about an
        outage plus the allowed lead; the bound here is a backstop that aborts the stream.
        """
        resilience = session.resilience
        bound = config.timeouts.send + resilience.max_outage + resilience.max_lead + _MARGIN
        frame = self.sample_rate * 2 * _FRAME_MS // 1000
        pending = bytearray()
        try:
            for pcm, _ in file_pcm(audio.path, audio.format, self.sample_rate):
                pending += pcm
                while len(pending) >= frame or (pending and not pcm):
                    chunk, pending = bytes(pending[:frame]), pending[frame:]
                    _loop.call(session.send(chunk), bound, "send")
            if pending:
                _loop.call(session.send(bytes(pending)), bound, "send")
        except FunAsrError as exc:
            # The stream's error, a backstop that ran out (TransportTimeout) or a file that
            # turned out corrupt mid-way (AudioError): end the stream; the result reports it.
            _loop.call(session.abort(exc), config.timeouts.send + _MARGIN, "abort")
            return False
        return True

    # ------------------------------------------------------------------ getters

    def get_last_request_id(self) -> str:
        """The task id of the latest task ("" before the first, or if it failed before run-task)."""
        return self._last_request_id

    def get_first_package_delay(self) -> float:
        """Milliseconds from the first audio sent to the first result with text, in the
        latest task; :data:`NOT_MEASURED` (-1.0) if there was none."""
        metrics = self._metrics()
        value = metrics.first_package_delay_ms if metrics else None
        return NOT_MEASURED if value is None else value

    def get_last_package_delay(self) -> float:
        """Milliseconds from finish-task (``stop()``, or the end of the file in ``call()``) to
        the end of the task, in the latest task; :data:`NOT_MEASURED` (-1.0) if not measured."""
        metrics = self._metrics()
        value = metrics.last_package_delay_ms if metrics else None
        return NOT_MEASURED if value is None else value

    def get_response(self) -> RecognitionResult | None:
        """The last result delivered: an ``on_event`` or ``on_error`` result, or ``call()``'s."""
        return self._last_response

    # ------------------------------------------------------------------ TaskOwner (loop thread)

    def task_identified(self, task_id: str) -> None:
        self._last_request_id = task_id

    def task_failed(self, result: RecognitionResult) -> None:
        if result.request_id:
            self._last_request_id = result.request_id
        self._last_response = result
        self._stopped(f"{result.code}: {result.message}")

    def result_delivered(self, result: RecognitionResult) -> None:
        self._last_response = result

    # ------------------------------------------------------------------ internals

    def __enter__(self) -> Recognition:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop a running task, so no connection outlives the block."""
        if self._running:
            self.stop()

    def __repr__(self) -> str:
        return f"Recognition(model={self.model!r}, format={self.format!r}, sample_rate={self.sample_rate})"

    def _check_params(self) -> None:
        check_parameters(self.model, self.format, self.sample_rate, self._options)

    def _resolve(self, phrase_id: str | None, kwargs: dict[str, Any]) -> tuple[RecognitionParams, ClientConfig]:
        return resolve(self.model, self.format, self.sample_rate, phrase_id, {**self._options, **kwargs})

    def _begin(self, session: StreamingSession | FileSession, config: ClientConfig) -> None:
        self._running = True
        self._why_stopped = ""
        self._sink = None
        self._session = session
        self._config = config
        self._last_request_id = ""

    def _streaming_session(self) -> tuple[StreamingSession, ClientConfig, CallbackSink]:
        """The task started by ``start()``; raises the SDK's errors when there is none."""
        if not self._running or self._session is None or self._config is None:
            raise InvalidParameter(_stopped_message(self._why_stopped))
        if self._sink is None or not isinstance(self._session, StreamingSession):  # a call() is running
            raise InvalidParameter("Speech recognition has been called.")
        return self._session, self._config, self._sink

    def _send_failed(self, error: FunAsrError) -> InvalidParameter:
        """A send or context update met the task's error: later calls raise too; this is raised."""
        self._stopped(str(error))
        return InvalidParameter(_stopped_message(str(error)))

    def _stopped(self, reason: str) -> None:
        """The task failed: later calls raise InvalidParameter with ``reason`` appended."""
        with self._lock:
            if self._running:
                self._running = False
                self._why_stopped = reason

    def _metrics(self) -> TaskMetrics | None:
        return self._session.metrics if self._session is not None else None


def _probe_as_the_sdk_would(file: str | Path, format: str, sample_rate: int) -> AudioFile:
    """:func:`probe`, except that ``format="pcm"`` on a WAV file is accepted, as the SDK accepts it."""
    if format == "pcm":
        path = Path(file)
        if path.is_file():
            with path.open("rb") as handle:
                head = handle.read(64)
            if sniff(head, signatures_only=True) == "wav":
                logger.warning(
                    "%s: format='pcm' but the file is a WAV; its header is stripped "
                    "(the official SDK would have sent the header as audio)",
                    path.name,
                )
                return probe(path, "wav", sample_rate)
    return probe(file, format, sample_rate)


def _stopped_message(reason: str) -> str:
    """The SDK's message, with the reason when the task ended by failing."""
    return f"Speech recognition has stopped. ({reason})" if reason else "Speech recognition has stopped."


def _run_in_background(session: StreamingSession | FileSession) -> None:
    future = _loop.submit(session.run())
    future.add_done_callback(_report_crash)


def _report_crash(future: concurrent.futures.Future[None]) -> None:
    """``StreamingSession.run`` reports every error it expects to its sink; anything else is a bug."""
    if not future.cancelled() and (error := future.exception()) is not None:
        logger.error("compat task crashed", exc_info=error)


def _wait(event: threading.Event, timeout: float, what: str) -> None:
    """Wait for ``event``. The network part is bounded by the client's timeouts; only a slow
    callback can outlast ``timeout``, and the application thread then goes on (logged)."""
    if not event.wait(timeout):
        logger.warning("%s did not finish within %g s; continuing without it", what, timeout)
