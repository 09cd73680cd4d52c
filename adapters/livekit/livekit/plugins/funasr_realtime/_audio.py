"""Audio plumbing: LiveKit frames to Fun-ASR PCM."""

from __future__ import annotations

import numpy as np
from livekit import rtc
from livekit.agents.utils import AudioBuffer

__all__ = ["buffer_pcm", "frame_pcm", "mono_frame"]


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
