"""LiveKit ``hotwords=[...]``: a vocabulary ensured by content, named from the next task on.

Against the real local server with its general pocketsphinx model (no grammar): the ``hw1``
fixture ("ask paraformer to transcribe this") comes out without "Paraformer" unless the
task names a vocabulary holding it. The server's own store proves reuse across restarts.
"""

from __future__ import annotations

import functools
import wave
from collections.abc import Iterator

import pytest
from livekit.agents import stt
from livekit.plugins import funasr_realtime
from livekit.plugins.funasr_realtime import HotWordsUnavailable

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.adapters.livekit.helpers import Recorder, finals, frames, has_final, push, silence
from tests.conftest import SPEECH
from tests.timing import scaled

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """A server of this module's own, so its vocabularies are only this module's."""
    with ServerThread(ServerConfig()) as running:
        yield running


def stored(server: ServerThread) -> list[str]:
    return [v.vocabulary_id for v in server.server.vocabularies.page(None, 0, 100)]


def _has_interim(events: list[stt.SpeechEvent]) -> bool:
    """The task is recognizing: a transcript (interim, or already final) came."""
    heard = (stt.SpeechEventType.INTERIM_TRANSCRIPT, stt.SpeechEventType.FINAL_TRANSCRIPT)
    return any(event.type in heard for event in events)


@functools.cache
def hw1() -> bytes:
    """The hot-word fixture (16 kHz mono PCM), then 300 ms of silence."""
    with wave.open(str(SPEECH / "hw1_16k.wav")) as w:
        return bytes(w.readframes(w.getnframes())) + silence(300, 16000)


def words(text: str) -> list[str]:
    return text.split()


async def utterances(plugin: funasr_realtime.STT, count: int) -> list[str]:
    """``hw1`` said ``count`` times on one stream, one flush (one Fun-ASR task) each; the finals' texts."""
    stream = plugin.stream()
    recorder = Recorder(stream)
    pcm = hw1()
    for index in range(count):
        await push(stream, frames(pcm, 16000), pace=0.0)
        stream.flush()
        await recorder.wait_for(has_final(index + 1), scaled(30))
    stream.end_input()
    await recorder.finish(scaled(30))
    await stream.aclose()
    return [data.text for data in finals(recorder.events)]


async def test_the_plain_adapter_misses_the_word_and_hotwords_find_it(server: ServerThread) -> None:
    [plain] = await utterances(funasr_realtime.STT(url=server.url), 1)
    assert "Paraformer" not in words(plain) and "paraformer" not in words(plain.lower()), plain

    [biased] = await utterances(funasr_realtime.STT(url=server.url, hotwords=["Paraformer"]), 1)
    assert "Paraformer" in words(biased), biased
    [first] = stored(server)

    # A restart: a new STT (a new client, no cache) with the same words reuses the vocabulary.
    again = funasr_realtime.STT(url=server.url, hotwords=[{"text": "Paraformer", "weight": 4}])
    [biased_again] = await utterances(again, 1)
    assert "Paraformer" in words(biased_again)
    assert stored(server) == [first]


async def test_an_update_of_hotwords_applies_at_the_next_task(server: ServerThread) -> None:
    plugin = funasr_realtime.STT(url=server.url)
    stream = plugin.stream()
    recorder = Recorder(stream)
    pcm = hw1()
    await push(stream, frames(pcm, 16000), pace=0.0)
    # Mid-task (the first task is recognizing), so this task keeps its options.
    await recorder.wait_for(_has_interim, scaled(30))
    plugin.update_options(hotwords=["Paraformer"])
    stream.flush()
    await recorder.wait_for(has_final(1), scaled(30))
    await push(stream, frames(pcm, 16000), pace=0.0)
    stream.end_input()
    await recorder.finish(scaled(30))
    await stream.aclose()
    before, after = (data.text for data in finals(recorder.events))
    assert "Paraformer" not in words(before), before
    assert "Paraformer" in words(after), after

    with pytest.raises(ValueError, match="either vocabulary_id or hotwords"):
        plugin.update_options(hotwords=["Paraformer"], vocabulary_id="vocab-x")


async def test_session_keyterms_become_hot_words_in_hotwords_mode(server: ServerThread) -> None:
    plugin = funasr_realtime.STT(url=server.url, model="paraformer-realtime-v2", hotwords=[])
    assert plugin.capabilities.keyterms  # no context on Paraformer, but hot words
    assert not plugin.capabilities.chat_context
    plugin._update_session_keyterms(["Paraformer"])
    [biased] = await utterances(plugin, 1)
    assert "Paraformer" in words(biased), biased


def test_hotwords_and_vocabulary_id_together_are_refused() -> None:
    url = "ws://127.0.0.1:1/api-ws/v1/inference"
    with pytest.raises(ValueError, match="either vocabulary_id or hotwords"):
        funasr_realtime.STT(url=url, hotwords=["Paraformer"], vocabulary_id="vocab-x")
    with pytest.raises(ValueError, match="hot word 0"):
        funasr_realtime.STT(url=url, hotwords=[{"text": "Paraformer", "weight": 9}])
    plain = funasr_realtime.STT(url=url, model="paraformer-realtime-v2")
    assert not plain.capabilities.keyterms  # without hotwords, as before


async def test_an_unavailable_vocabulary_is_reported_and_the_stream_goes_on() -> None:
    # Nothing listens on port 1: the WebSocket and the HTTP API both fail to connect. The
    # hot words' failure is reported as recoverable before the stream's own (permanent) one.
    plugin = funasr_realtime.STT(
        url="ws://127.0.0.1:1/api-ws/v1/inference",
        hotwords=["Paraformer"],
        timeouts=fr.Timeouts(connect=scaled(0.5)),
    )
    errors: list[stt.STTError] = []
    plugin.on("error", errors.append)
    assert await plugin._hotwords.vocabulary_for("fun-asr-realtime", (fr.HotWord(text="Paraformer"),)) is None
    [error] = errors
    assert error.recoverable and isinstance(error.error, HotWordsUnavailable)
