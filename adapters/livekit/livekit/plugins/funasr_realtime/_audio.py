"""Audio plumbing: LiveKit frames to Fun-ASR PCM, and the audio a LiveKit retry must replay."""

from __future__ import annotations

import numpy as np
from livekit import rtc
from livekit.agents.utils import AudioBuffer

from funasr_realtime.protocol import ReplayBuffer, Timeline

__all__ = ["AudioLedger", "buffer_pcm", "frame_pcm", "mono_frame"]


def frame_pcm(frame: rtc.AudioFrame) -> bytes:
    """The frame as s16le mono PCM (channels are averaged)."""
    if frame.num_channels == 1:
        return bytes(frame.data)
    samples = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
    mono: bytes = samples.mean(axis=1).astype(np.int16).tobytes()
    return mono


def mono_frame(frame: rtc.AudioFrame) -> rtc.AudioFrame:
    """The frame downmixed to one channel (itself if it already has one).

    Must happen before any resampling: LiveKit's stream resampler is built for one channel,
    and fed interleaved stereo it reads each sample pair as two mono samples (garbage text,
    doubled times).
    """
    if frame.num_channels == 1:
        return frame
    pcm = frame_pcm(frame)
    return rtc.AudioFrame(pcm, frame.sample_rate, 1, len(pcm) // 2)


def buffer_pcm(buffer: AudioBuffer, sample_rate: int) -> bytes:
    """A whole buffer of frames as s16le mono PCM at ``sample_rate``.

    ``recognize()`` gets raw frames (the base class resamples only streams), so this combines,
    downmixes (first: the resampler gets one channel) and resamples with LiveKit's own resampler.
    """
    frames = buffer if isinstance(buffer, list) else [buffer]
    if not frames:
        return b""
    combined = rtc.combine_audio_frames(frames)
    mono = frame_pcm(combined)
    if combined.sample_rate == sample_rate:
        return mono
    resampler = rtc.AudioResampler(
        combined.sample_rate, sample_rate, num_channels=1, quality=rtc.AudioResamplerQuality.HIGH
    )
    out = [bytes(f.data) for f in resampler.push(bytearray(mono))]
    out += [bytes(f.data) for f in resampler.flush()]
    return b"".join(out)


class AudioLedger:
    """Audio of one LiveKit stream that no final sentence covers yet, by stream position.

    The core reconnects and replays inside one core stream. If it gives up (its retry budget
    is spent), LiveKit reruns ``_run`` with a new core stream; the ledger hands that stream
    the audio the failed one had not finalized, so the retry loses nothing either, and the
    new stream's time zero is :attr:`start_ms` on the LiveKit stream's timeline. Bounded
    like the core's replay buffer: an outage longer than ``seconds`` loses the oldest audio.
    """

    def __init__(self, sample_rate: int, seconds: float) -> None:
        self._timeline = Timeline(sample_rate)
        self._buffer = ReplayBuffer(max(2, int(seconds * sample_rate * 2)))

    def append(self, pcm: bytes) -> None:
        self._buffer.append(pcm)

    def release_until(self, ms: int) -> None:
        """Audio up to stream time ``ms`` is covered by a final (or a completed task)."""
        self._buffer.release(self._timeline.bytes_at(ms))

    @property
    def start_ms(self) -> int:
        """Stream time of the oldest audio held (where a replay starts)."""
        return self._timeline.ms(self._buffer.start)

    def pending(self) -> bytes:
        """The audio held, oldest first."""
        data, _ = self._buffer.read(self._buffer.start, self._buffer.end)
        return data
