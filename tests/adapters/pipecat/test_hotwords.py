"""Pipecat ``hotwords=[...]``: a vocabulary ensured by content, named from the next task on.

Real pipelines (``run_test``) against the real local server with its general pocketsphinx
model (no grammar): the ``hw1`` fixture ("ask paraformer to transcribe this") comes out
without "Paraformer" unless the task names a vocabulary holding it. The server's own store
proves reuse across restarts.
"""

from __future__ import annotations

import functools
import wave
from collections.abc import Iterator

import pytest
from pipecat.frames.frames import Frame, STTUpdateSettingsFrame
from pipecat.tests.utils import SleepFrame
from pipecat.utils.errors import ErrorCategory
from pipecat_funasr_realtime import FunAsrRealtimeSTTService

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.conftest import SPEECH, load_speech
from tests.timing import scaled

from .helpers import audio, errors, realtime, run, transcripts, vad_stop

pytestmark = pytest.mark.timeout(300)

SILENCE = bytes(16000 * 2 // 2)  # 500 ms


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """A server of this module's own, so its vocabularies are only this module's."""
    with ServerThread(ServerConfig()) as running:
        yield running


@functools.cache
def hw1() -> bytes:
    with wave.open(str(SPEECH / "hw1_16k.wav")) as w:
        return bytes(w.readframes(w.getnframes()))


def stored(server: ServerThread) -> list[str]:
    return [v.vocabulary_id for v in server.server.vocabularies.page(None, 0, 100)]


def utterance() -> list[Frame]:
    return [*audio(hw1()), vad_stop(), SleepFrame(1.0)]


async def texts(stt: FunAsrRealtimeSTTService, frames: list[Frame]) -> list[str]:
    down, up = await run(stt, frames)
    assert not errors(up), errors(up)
    return [t.text for t in transcripts(down)]


async def test_the_plain_service_misses_the_word_and_hotwords_find_it(server: ServerThread) -> None:
    [plain] = await texts(FunAsrRealtimeSTTService(url=server.url), utterance())
    assert "paraformer" not in plain.lower().split(), plain

    [biased] = await texts(FunAsrRealtimeSTTService(url=server.url, hotwords=["Paraformer"]), utterance())
    assert "Paraformer" in biased.split(), biased
    [first] = stored(server)

    # A restart: a new service (a new client, no cache) with the same words reuses the vocabulary.
    settings = FunAsrRealtimeSTTService.Settings(hotwords=[{"text": "Paraformer", "weight": 4}])
    [again] = await texts(FunAsrRealtimeSTTService(url=server.url, settings=settings), utterance())
    assert "Paraformer" in again.split(), again
    assert stored(server) == [first]


async def test_a_settings_update_of_hotwords_applies_at_the_next_task(server: ServerThread) -> None:
    update = STTUpdateSettingsFrame(delta=FunAsrRealtimeSTTService.Settings(hotwords=["Paraformer"]))
    # Pipecat's audio frames are system frames and overtake the (ordered) control frame of the
    # update; the pause lets the update land before the next utterance, as between real turns.
    pause = SleepFrame(scaled(1.0))
    frames = [*utterance(), *realtime(SILENCE, speed=8), update, pause, *realtime(SILENCE, speed=8), *utterance()]
    before, after = await texts(FunAsrRealtimeSTTService(url=server.url), frames)
    assert "paraformer" not in before.lower().split(), before
    assert "Paraformer" in after.split(), after


def test_hotwords_and_vocabulary_id_together_are_refused() -> None:
    url = "ws://127.0.0.1:1/api-ws/v1/inference"
    settings = FunAsrRealtimeSTTService.Settings(vocabulary_id="vocab-x")
    with pytest.raises(ValueError, match="either vocabulary_id or hotwords"):
        FunAsrRealtimeSTTService(url=url, settings=settings, hotwords=["Paraformer"])
    with pytest.raises(ValueError, match="hot word 0"):
        FunAsrRealtimeSTTService(url=url, hotwords=[{"text": "Paraformer", "weight": 9}])


async def test_an_unavailable_vocabulary_is_reported_and_recognition_goes_on(grammar_server: ServerThread) -> None:
    # The WebSocket is the real server; the HTTP API is unreachable (nothing on port 1).
    stt = FunAsrRealtimeSTTService(
        url=grammar_server.url, hotwords=["Paraformer"], timeouts=fr.Timeouts(connect=scaled(2.0))
    )
    unreachable = fr.ClientConfig.resolve(url="ws://127.0.0.1:1/api-ws/v1/inference")
    stt._biasing.vocabularies = fr.Vocabularies(unreachable, retries=0)
    speech = load_speech("s1")
    down, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(1.0)])
    [error] = errors(up)
    assert "hot words unavailable" in error.error and error.category is ErrorCategory.CONNECTIVITY
    # Not fatal: recognition went on, without hot words.
    assert [t.text for t in transcripts(down)] == [speech.text]
