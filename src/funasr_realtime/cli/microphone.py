"""Microphone input: sounddevice or PyAudio when installed, or a file that stands in for a device.

``open_microphone(sample_rate)`` returns a :class:`Microphone` whose ``read()`` blocks for one
frame (100 ms by default) of s16le mono PCM and returns it; ``b""`` means the input ended
(only the stand-in ends). It raises :class:`MicrophoneUnavailable` with a message saying
what is missing and how to fix it. Neither audio library is a dependency: install one with
``pip install sounddevice`` (needs the PortAudio library) or ``pip install pyaudio``.

Stand-in device: when ``$FUNASR_REALTIME_MIC_FILE`` names a 16-bit mono WAV at the requested
rate, it is played in real time as if spoken into a microphone, then the input ends. CI uses
it; so can anyone without a microphone.
"""

from __future__ import annotations

import abc
import importlib
import os
import time
import wave
from types import TracebackType
from typing import Any, Self

__all__ = ["MIC_FILE_ENV", "Microphone", "MicrophoneUnavailable", "open_microphone"]

MIC_FILE_ENV = "FUNASR_REALTIME_MIC_FILE"


class MicrophoneUnavailable(RuntimeError):
    """No usable audio input: the message says why and what to install or set."""


class Microphone(abc.ABC):
    """An open input device; use as a context manager or call :meth:`close`."""

    name: str

    @abc.abstractmethod
    def read(self) -> bytes:
        """The next frame of s16le mono PCM (blocks until it was captured); ``b""`` at the end."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_microphone(sample_rate: int = 16000, frame_ms: int = 100) -> Microphone:
    """The stand-in file if ``$FUNASR_REALTIME_MIC_FILE`` is set, else the default input device."""
    frames = sample_rate * frame_ms // 1000
    path = os.environ.get(MIC_FILE_ENV)
    if path:
        return FileMicrophone(path, sample_rate, frames)
    reasons = []
    for opener in (_open_sounddevice, _open_pyaudio):
        try:
            return opener(sample_rate, frames)
        except MicrophoneUnavailable as exc:
            reasons.append(str(exc))
    raise MicrophoneUnavailable(
        "no microphone available: "
        + "; ".join(reasons)
        + f". Install one (pip install sounddevice) or set {MIC_FILE_ENV}=speech.wav to stream a file instead"
    )


class FileMicrophone(Microphone):
    """A WAV file played in real time, frame by frame, then the end of input."""

    def __init__(self, path: str, sample_rate: int, frames: int) -> None:
        try:
            self._wav = wave.open(path, "rb")  # noqa: SIM115 - held open until close()
        except (OSError, wave.Error) as exc:
            raise MicrophoneUnavailable(f"{MIC_FILE_ENV}={path}: cannot read it as WAV ({exc})") from exc
        shape = (self._wav.getnchannels(), self._wav.getsampwidth(), self._wav.getframerate())
        if shape != (1, 2, sample_rate):
            self._wav.close()
            raise MicrophoneUnavailable(f"{MIC_FILE_ENV}={path}: need 16-bit mono at {sample_rate} Hz")
        self.name = f"file {os.path.basename(path)}"
        self._rate = sample_rate
        self._frames = frames
        self._read = 0
        self._start: float | None = None

    def read(self) -> bytes:
        if self._start is None:
            self._start = time.monotonic()
        data = self._wav.readframes(self._frames)
        self._read += len(data) // 2
        # A microphone delivers a frame only once it has been spoken.
        time.sleep(max(0.0, self._start + self._read / self._rate - time.monotonic()))
        return data

    def close(self) -> None:
        self._wav.close()


class _SoundDeviceMicrophone(Microphone):
    def __init__(self, stream: Any, frames: int, name: str) -> None:
        self._stream = stream
        self._frames = frames
        self.name = name

    def read(self) -> bytes:
        data, _overflowed = self._stream.read(self._frames)
        return bytes(data)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


class _PyAudioMicrophone(Microphone):
    def __init__(self, audio: Any, stream: Any, frames: int, name: str) -> None:
        self._audio = audio
        self._stream = stream
        self._frames = frames
        self.name = name

    def read(self) -> bytes:
        return bytes(self._stream.read(self._frames, exception_on_overflow=False))

    def close(self) -> None:
        self._stream.stop_stream()
        self._stream.close()
        self._audio.terminate()


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MicrophoneUnavailable(f"{module} is not installed") from exc
    except OSError as exc:  # sounddevice without the PortAudio shared library
        raise MicrophoneUnavailable(f"{module} cannot load: {exc}") from exc


def _open_sounddevice(sample_rate: int, frames: int) -> Microphone:
    sd = _import("sounddevice")
    try:
        device = sd.query_devices(kind="input")
        stream = sd.RawInputStream(samplerate=sample_rate, channels=1, dtype="int16", blocksize=frames)
        stream.start()
    except (sd.PortAudioError, ValueError) as exc:
        raise MicrophoneUnavailable(f"sounddevice found no input device ({exc})") from exc
    return _SoundDeviceMicrophone(stream, frames, f"sounddevice: {device['name']}")


def _open_pyaudio(sample_rate: int, frames: int) -> Microphone:
    pyaudio = _import("pyaudio")
    audio = pyaudio.PyAudio()
    try:
        device = audio.get_default_input_device_info()
        stream = audio.open(format=pyaudio.paInt16, channels=1, rate=sample_rate, input=True, frames_per_buffer=frames)
    except OSError as exc:
        audio.terminate()
        raise MicrophoneUnavailable(f"pyaudio found no input device ({exc})") from exc
    return _PyAudioMicrophone(audio, stream, frames, f"pyaudio: {device['name']}")
