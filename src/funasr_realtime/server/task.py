"""One recognition task on the local server: audio in, DashScope sentences out.

:class:`TaskRecognizer` validates the run-task parameters, turns the binary frames into 16 kHz
PCM (WAV header stripped, mp3/aac/amr/opus/speex decoded by :mod:`.decoders`, 8 kHz
resampled), runs the transcriber and converts its hypotheses into the service's sentence
objects, including heartbeats and usage.  A :class:`~.engines.base.TranscribingEngine` (the
``replay`` engine) brings its own transcriber, whose recorded results are sent unchanged.
It is synchronous and CPU-bound; the connection handler runs it off the event loop.

``close()`` releases everything the task holds (VAD, open sentence, codec).  When the last open
task of the process closes, freed heap pages are handed back to the OS (glibc ``malloc_trim``), so
the server's RSS returns near its idle level after a burst of connections.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..protocol import ConfigurationError, RecognitionParams, Sentence, Usage, Word, check_compatibility, find_model
from ..protocol.context import ContextMessage, bound_context, context_from_wire
from ..protocol.vocabulary import HotWord
from .audio import Resampler, WavFormatError, WavStream
from .context import ContextRejected, context_report
from .decoders import COMPRESSED_FORMATS, CodecUnavailable, DecodeError, create_decoder, decoder_name
from .engines import Engine, Hypothesis
from .engines._heap import trim_heap
from .engines.base import (
    BiasedEngine,
    ContextEngine,
    ContextView,
    HotWordEngine,
    Recorded,
    TaskTranscriber,
    TranscribingEngine,
)
from .transcriber import Transcriber

__all__ = ["TaskRecognizer", "TaskRejected", "TaskResult"]

SUPPORTED_RATES = (8000, 16000)
SUPPORTED_FORMATS = ("pcm", "wav", *COMPRESSED_FORMATS)


class _LiveTasks:
    """How many task recognizers are open in this process; trims the heap when the last one closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def opened(self) -> None:
        with self._lock:
            self._count += 1

    def closed(self) -> None:
        with self._lock:
            self._count -= 1
            quiet = self._count == 0
        if quiet:
            # Trimming per close would walk the heap once per connection during a burst; once
            # nothing is open is when the freed VAD, PCM and codec buffers can all go back.
            trim_heap()


_LIVE = _LiveTasks()


class TaskRejected(Exception):
    """The task cannot run or continue; becomes task-failed with ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A sentence to send, with the usage to attach (finals only) and the server's debug
    output (finals of a task with context: ``{"context": {...}}``, see :mod:`.context`)."""

    sentence: Sentence
    usage: Usage | None
    debug: dict[str, Any] | None = None


class TaskRecognizer:
    """Recognition state of one task. Create with :meth:`create`, which validates."""

    def __init__(
        self, params: RecognitionParams, engine: Engine, *, heartbeat_interval_ms: int, max_audio_s: float
    ) -> None:
        self.params = params
        self._wav = WavStream() if params.format == "wav" else None
        # Compressed audio is decoded to PCM at the declared rate, then treated like pcm.
        compressed = params.format in COMPRESSED_FORMATS
        self._decoder = create_decoder(params.format, params.sample_rate) if compressed else None
        self._resampler = Resampler(params.sample_rate)
        self._odd = b""
        spec = find_model(params.model)
        silence = params.max_sentence_silence or (spec.default_silence_ms if spec else 1300)  # the model's default
        self._transcriber: TaskTranscriber = (
            engine.new_transcriber()
            if isinstance(engine, TranscribingEngine)
            else Transcriber(engine, max_sentence_silence_ms=silence)
        )
        self._context: dict[str, int] | None = None  # the context report (see .context)
        self._heartbeat_ms = heartbeat_interval_ms if params.heartbeat else None
        self._last_output_ms = 0
        self._max_audio_ms = max_audio_s * 1000
        self._synthetic = engine.synthetic
        self._bias: BiasedEngine | None = None  # the engine's hot-word view, closed with the task
        self._closed = False
        _LIVE.opened()

    @classmethod
    def create(
        cls,
        model: str,
        parameters: dict[str, object],
        engine: Engine,
        *,
        heartbeat_interval_ms: int,
        max_audio_s: float,
        input: dict[str, Any] | None = None,
        hot_words: Sequence[HotWord] = (),
    ) -> TaskRecognizer:
        """Validate a run-task (its ``input`` too); raises :class:`TaskRejected` with the service's error codes.

        ``hot_words``: the task's vocabulary; applied where the engine can (a
        :class:`~.engines.base.HotWordEngine`), ignored by other engines.  A
        :class:`~.engines.base.ContextEngine` (Fun-ASR-Nano) also gets ``input.context``.
        """
        if find_model(model) is None:
            raise TaskRejected("ModelNotFound", f"Model not found: {model!r}")
        try:
            params = RecognitionParams(model=model, **_split_extra(parameters))
            check_compatibility(params, region=None)
        except ConfigurationError as exc:
            raise TaskRejected("InvalidParameter", str(exc)) from exc
        if params.format not in SUPPORTED_FORMATS:
            supported = ", ".join(SUPPORTED_FORMATS)
            raise TaskRejected(
                "NO_VALID_AUDIO_ERROR", f"the local server cannot decode {params.format!r} (supported: {supported})"
            )
        if params.format in COMPRESSED_FORMATS:
            try:
                decoder_name(params.format)
            except CodecUnavailable as exc:
                raise TaskRejected("NO_VALID_AUDIO_ERROR", str(exc)) from exc
        if params.sample_rate not in SUPPORTED_RATES:
            raise TaskRejected("InvalidParameter", f"sample_rate {params.sample_rate} not supported (8000 or 16000)")
        context = _context_report(model, input or {})
        bias = _engine_view(engine, hot_words, input or {})
        try:
            task = cls(params, bias or engine, heartbeat_interval_ms=heartbeat_interval_ms, max_audio_s=max_audio_s)
        except BaseException:
            if bias is not None:
                bias.close()
            raise
        task._context = context
        task._bias = bias
        return task

    def continue_task(self, input: dict[str, Any]) -> None:
        """A continue-task: its context replaces the task's; raises :class:`TaskRejected` if invalid."""
        report = _context_report(self.params.model, input)
        if report is not None:
            self._context = report
            if isinstance(self._bias, ContextView):
                self._bias.set_context(_context_messages(input))

    @property
    def audio_ms(self) -> int:
        return self._transcriber.audio_ms

    def feed(self, data: bytes) -> list[TaskResult]:
        """Process one binary frame; returns the results to send (maybe none)."""
        pcm = self._decode(data)
        if not pcm:
            return []
        results = [self._to_result(h) for h in self._transcriber.feed(pcm)]
        if self.audio_ms > self._max_audio_ms:
            raise TaskRejected(
                "InvalidParameter", f"task exceeds the local server's limit of {self._max_audio_ms / 1000:g} s of audio"
            )
        if results:
            self._last_output_ms = self.audio_ms
        elif self._heartbeat_ms is not None and self.audio_ms - self._last_output_ms >= self._heartbeat_ms:
            self._last_output_ms = self.audio_ms
            results.append(TaskResult(Sentence(begin_time=self.audio_ms, heartbeat=True, sentence_end=False), None))
        return results

    def finish(self) -> list[TaskResult]:
        """End of audio: the trailing results of the open sentence."""
        tail = self._drain_decoder() + self._resampler.flush()
        hypotheses = [*(self._transcriber.feed(tail) if tail else ()), *self._transcriber.finish()]
        return [self._to_result(h) for h in hypotheses]

    def close(self) -> None:
        """Release the task's resources; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._transcriber.close()
        if self._bias is not None:
            self._bias.close()  # after the transcriber: its utterances are closed
        self._decoder = None
        _LIVE.closed()

    @property
    def billed_seconds(self) -> int:
        """What the task is billed so far: whole seconds of audio, rounded up (like the service)."""
        return math.ceil(self.audio_ms / 1000)

    def _decode(self, data: bytes) -> bytes:
        if self._decoder is not None:
            try:
                data = self._decoder.feed(data)
            except DecodeError as exc:
                raise TaskRejected("NO_VALID_AUDIO_ERROR", str(exc)) from exc
        if self._wav is not None:
            try:
                data = self._wav.feed(data)
            except WavFormatError as exc:
                raise TaskRejected("NO_VALID_AUDIO_ERROR", str(exc)) from exc
            rate = self._wav.sample_rate
            if rate is not None and rate != self.params.sample_rate:
                raise TaskRejected(
                    "NO_VALID_AUDIO_ERROR", f"WAV is {rate} Hz but sample_rate is {self.params.sample_rate}"
                )
        return self._resampler.feed(data)

    def _drain_decoder(self) -> bytes:
        if self._decoder is None:
            return b""
        try:
            return self._resampler.feed(self._decoder.flush())
        except DecodeError as exc:
            raise TaskRejected("NO_VALID_AUDIO_ERROR", str(exc)) from exc

    def _to_result(self, hypothesis: Hypothesis | Recorded) -> TaskResult:
        if isinstance(hypothesis, Recorded):
            final = hypothesis.sentence.is_final and not hypothesis.sentence.heartbeat
            return TaskResult(hypothesis.sentence, hypothesis.usage, self._debug() if final else None)
        text = hypothesis.text
        if self._synthetic and hypothesis.final and not text.startswith("[synthetic]"):
            text = f"[synthetic] {text}"
        words = tuple(
            Word(begin_time=w.begin_ms, end_time=w.end_ms, text=w.text, punctuation="") for w in hypothesis.words
        )
        sentence = Sentence(
            begin_time=hypothesis.begin_ms,
            end_time=hypothesis.end_ms if hypothesis.final else None,
            text=text,
            words=words,
            heartbeat=False,
            sentence_end=hypothesis.final,
            sentence_id=hypothesis.sentence_index + 1,
        )
        if not hypothesis.final:
            return TaskResult(sentence, None)
        return TaskResult(sentence, Usage(duration=self.billed_seconds), self._debug())

    def _debug(self) -> dict[str, Any] | None:
        """The debug output of a final: the context report, for a task with context."""
        return None if self._context is None else {"context": self._context}


def _context_report(model: str, input: dict[str, Any]) -> dict[str, int] | None:
    try:
        return context_report(model, input)
    except ContextRejected as exc:
        raise TaskRejected("InvalidParameter", str(exc)) from None


def _engine_view(engine: Engine, hot_words: Sequence[HotWord], input: dict[str, Any]) -> BiasedEngine | None:
    """The engine's view for the task's hot words and context; None: the task decodes on ``engine``.

    A :class:`ContextEngine` always gets a view, so a continue-task can bring context later.
    """
    if isinstance(engine, ContextEngine):
        return engine.with_context(hot_words, _context_messages(input) if "context" in input else ())
    if hot_words and isinstance(engine, HotWordEngine):
        return engine.with_hot_words(hot_words)
    return None


def _context_messages(input: dict[str, Any]) -> tuple[ContextMessage, ...]:
    """``input.context`` as the service keeps it (already validated by :func:`_context_report`)."""
    return bound_context(context_from_wire(input["context"]))[0]


def _split_extra(parameters: dict[str, object]) -> dict[str, object]:
    """Named parameters as fields, unknown ones into ``extra`` (accepted, like the service)."""
    named = set(RecognitionParams.model_fields) - {"model", "extra", "context"}  # context travels in input
    known = {k: v for k, v in parameters.items() if k in named}
    extra = {k: v for k, v in parameters.items() if k not in named}
    return {**known, "extra": extra}
