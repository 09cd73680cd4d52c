"""Everyday frame layouts through LiveKit's own stream and recognize(), against the real server.

LiveKit's stream base class resamples every pushed frame with a one-channel resampler, so a
stereo frame that is not downmixed first is read as twice as many mono samples: garbage text
and doubled times. Each case here must give the fixture's exact words, with every time inside
the audio's duration (and not squeezed either).
"""

from __future__ import annotations

import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from livekit.plugins import funasr_realtime

from funasr_realtime.server.thread import ServerThread
from tests.conftest import Speech, load_speech
from tests.timing import scaled

from .helpers import Recorder, finals, frames, push, silence, speech_at, stereo_frames

NO_RETRY = APIConnectOptions(max_retry=0)

# (rate, layout): "both" = the speech on both channels, "left" = speech left and silence
# right (a one-sided recording), "mono" = one channel at a rate LiveKit must upsample.
LAYOUTS = [(44100, "both"), (44100, "left"), (48000, "both"), (48000, "left"), (8000, "mono")]


def layout_frames(name: str, rate: int, layout: str) -> tuple[Speech, list[rtc.AudioFrame]]:
    """The fixture ``name`` as 20 ms frames at ``rate`` in ``layout`` (8 kHz: its own recording)."""
    if layout == "mono":
        speech = load_speech(name, rate)
        return speech, frames(speech.pcm, rate)
    speech = load_speech(name)
    pcm = speech_at(name, rate)
    right = pcm if layout == "both" else silence(len(pcm) * 1000 // (2 * rate), rate)[: len(pcm)]
    return speech, stereo_frames(pcm, right.ljust(len(pcm), b"\0"), rate)


def assert_fixture_words_and_times(data: stt.SpeechData, speech: Speech) -> None:
    duration = speech.duration_ms / 1000
    assert data.text == speech.text
    assert data.words is not None
    assert [w.rstrip(".,?!") for w in data.words] == speech.text.split()
    assert 0.0 <= data.start_time < data.end_time <= duration + 0.05, "times within the audio (not doubled)"
    assert data.end_time > duration * 0.6, "times not squeezed either"
    for word in data.words:
        assert data.start_time - 0.05 <= word.start_time <= word.end_time <= duration + 0.05


@pytest.mark.parametrize(("rate", "layout"), LAYOUTS)
async def test_stream_downmixes_before_resampling(grammar_server: ServerThread, rate: int, layout: str) -> None:
    speech, audio = layout_frames("s1", rate, layout)
    plugin = funasr_realtime.STT(url=grammar_server.url)
    errors: list[stt.STTError] = []
    plugin.on("error", errors.append)
    stream = plugin.stream()
    recorder = Recorder(stream)
    await push(stream, audio)
    stream.end_input()
    events = await recorder.finish(timeout=scaled(15))
    await plugin.aclose()
    assert errors == []
    [final] = finals(events)
    assert_fixture_words_and_times(final, speech)


@pytest.mark.parametrize(("rate", "layout"), LAYOUTS)
async def test_recognize_downmixes_before_resampling(grammar_server: ServerThread, rate: int, layout: str) -> None:
    speech, audio = layout_frames("s2", rate, layout)
    plugin = funasr_realtime.STT(url=grammar_server.url)
    event = await plugin.recognize(audio, conn_options=NO_RETRY)
    await plugin.aclose()
    [data] = event.alternatives
    assert_fixture_words_and_times(data, speech)
    assert data.metadata is None, "nothing was lost"
