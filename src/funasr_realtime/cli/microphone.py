"""Microphone input: sounddevice or PyAudio when installed, or a file that stands in for a device.

``open_microphone(sample_rate)`` returns a :class:`Microphone` whose ``read()`` blocks for one
frame (100 ms by default) of s16le mono PCM and returns it; ``b""`` means the input ended
(only the stand-in ends). It raises :class:`MicrophoneUnavailable` with a message saying
what is missing and how to fix it: the Python package (``pip install sounddevice``), the
PortAudio system library it loads (``apt-get install libportaudio2`` or the platform's
equivalent) or an input device. Neither audio library is a dependency.

Stand-in device: when ``$FUNASR_REALTIME_MIC_FILE`` names a 16-bit mono WAV at the requested
rate, it is played in real time as if spoken into a microphone, then the input ends. CI uses
it; so can anyone without a microphone.
"""

from __future__ import annotations

import abc
import importlib
import os
import sys
import time
import wave
from types import TracebackType
from typing import Any, Self

__all__ = ["MIC_FILE_ENV", "Microphone", "MicrophoneUnavailable", "open_microphone"]

MIC_FILE_ENV = "FUNASR_REALTIME_MIC_FILE"


class MicrophoneUnavailable(RuntimeError):
    """No usable audio input: the message says why and what to install or set.

    ``fix`` is what would make this input work (an install line, a device to connect), or
    None when the reason says it all.
    """

    def __init__(self, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.fix = fix


def portaudio_hint(platform: str = sys.platform) -> str:
    """How to install PortAudio, the C library sounddevice (and PyAudio) load, on ``platform``."""
    if platform.startswith("linux"):
        return "install the PortAudio library: sudo apt-get install libportaudio2 (dnf install portaudio on Fedora)"
    if platform == "darwin":
        return "install the PortAudio library: brew install portaudio"
    if platform.startswith("win"):
        return "reinstall sounddevice, whose Windows wheel bundles PortAudio: pip install --force-reinstall sounddevice"
    return "install the PortAudio library (the portaudio package of your system)"


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
    failures: list[MicrophoneUnavailable] = []
    for opener in (_open_sounddevice, _open_pyaudio):
        try:
            return opener(sample_rate, frames)
        except MicrophoneUnavailable as exc:
            failures.append(exc)
    raise MicrophoneUnavailable(_explain(failures))


def _explain(failures: list[MicrophoneUnavailable]) -> str:
    """Why no library opened an input, and the one fix that matches: when a library is
    installed, what it lacks (PortAudio, a device); only when none is, which to install."""
    reasons = "; ".join(str(f) for f in failures)
    fixes = [f.fix for f in failures if f.fix is not None]
    fix = fixes[0] if fixes else "install an audio library: pip install sounddevice"
    return (
        f"no microphone available: {reasons}. To fix, {fix}; or set {MIC_FILE_ENV}=speech.wav to stream a file instead"
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
    except ImportError as exc:  # no fix: installing it is the generic advice, given only if nothing else applies
        raise MicrophoneUnavailable(f"{module} is not installed") from exc
    except OSError as exc:  # sounddevice installed, the PortAudio shared library it loads missing
        raise MicrophoneUnavailable(f"{module} cannot load: {exc}", fix=portaudio_hint()) from exc


_DEVICE_HINT = "connect a microphone (or enable one in the system's sound settings)"


def _open_sounddevice(sample_rate: int, frames: int) -> Microphone:
    sd = _import("sounddevice")
    try:
        device = sd.query_devices(kind="input")
        stream = sd.RawInputStream(samplerate=sample_rate, channels=1, dtype="int16", blocksize=frames)
        stream.start()
    except (sd.PortAudioError, ValueError) as exc:
        raise MicrophoneUnavailable(f"sounddevice found no input device ({exc})", fix=_DEVICE_HINT) from exc
    return _SoundDeviceMicrophone(stream, frames, f"sounddevice: {device['name']}")


def _open_pyaudio(sample_rate: int, frames: int) -> Microphone:
    pyaudio = _import("pyaudio")
    audio = pyaudio.PyAudio()
    try:
        device = audio.get_default_input_device_info()
        stream = audio.open(format=pyaudio.paInt16, channels=1, rate=sample_rate, input=True, frames_per_buffer=frames)
    except OSError as exc:
        audio.terminate()
        raise MicrophoneUnavailable(f"pyaudio found no input device ({exc})", fix=_DEVICE_HINT) from exc
    return _PyAudioMicrophone(audio, stream, frames, f"pyaudio: {device['name']}")
