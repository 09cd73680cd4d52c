"""The local server with ``engine="sherpa-paraformer"``: the server's VAD ends the sentences."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import chunks, load_speech
from tests.server.sherpa import tiny_paraformer
from tests.server.wire import finals, sentences, transcribe
from websockets.asyncio.client import connect

from funasr_realtime.server.thread import ServerThread

TEXTS = {tiny_paraformer.expected_text(n) for n in range(1, 200)}


def _check_sentences(events: list[dict[str, Any]], duration_ms: int) -> list[dict[str, Any]]:
    """Every partial is a prefix of its sentence's final; finals are model text with no words."""
    assert events[-1]["header"]["event"] == "task-finished", events[-1]
    results = [sentence for sentence, _ in sentences(events)]
    done = finals(events)
    assert [s["sentence_id"] for s in done] == list(range(1, len(done) + 1))
    for final in done:
        assert final["text"] in TEXTS, final["text"]
        assert final["words"] == [], "the model gives no timestamps: no invented word times"
        assert 0 <= final["begin_time"] < final["end_time"] <= duration_ms + 50
        partials = [s["text"] for s in results if s["sentence_id"] == final["sentence_id"] and not s["sentence_end"]]
        assert all(final["text"].startswith(text) for text in partials), (partials, final["text"])
    return done


async def test_streaming_partials_and_one_final_per_spoken_sentence(paraformer_server: ServerThread) -> None:
    long = load_speech("long")
    async with connect(paraformer_server.url) as ws:
        _, events = await transcribe(ws, chunks(long.pcm))
    done = _check_sentences(events, long.duration_ms)
    assert len(done) == len(long.texts), "the server's VAD cuts one sentence per spoken one"
    assert sum(not s["sentence_end"] for s, _ in sentences(events)) >= len(done), "partials while speaking"
    ends = [s["end_time"] for s in done]
    assert ends == sorted(ends)


async def test_8k_audio_is_resampled_for_the_model(paraformer_server: ServerThread) -> None:
    long = load_speech("long", 8000)
    async with connect(paraformer_server.url) as ws:
        _, events = await transcribe(ws, chunks(long.pcm, 1600), "fun-asr-flash-8k-realtime", sample_rate=8000)
    done = _check_sentences(events, long.duration_ms)
    assert len(done) == len(long.texts)


async def test_silence_gives_no_sentence(paraformer_server: ServerThread) -> None:
    async with connect(paraformer_server.url) as ws:
        _, events = await transcribe(ws, chunks(b"\x00\x00" * 16000 * 3))
    assert events[-1]["header"]["event"] == "task-finished"
    assert finals(events) == []


async def test_concurrent_tasks_decode_independently(paraformer_server: ServerThread) -> None:
    long = load_speech("long")

    async def one() -> list[str]:
        async with connect(paraformer_server.url) as ws:
            _, events = await transcribe(ws, chunks(long.pcm))
        return [s["text"] for s in _check_sentences(events, long.duration_ms)]

    first, second, third = await asyncio.gather(one(), one(), one())
    assert first == second == third, "streams share the recognizer, never their state"
