"""``serve --engine sherpa-sensevoice``: the server's VAD cuts sentences, the tiny model decodes them.

Over a real ServerThread and WebSocket, at 8 kHz (resampled by the server) and 16 kHz: one final
per spoken sentence, partials that the final extends, CJK spacing, and word times inside each
sentence.
"""

# Chinese text here holds full-width punctuation (the full-width comma) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.conftest import chunks, load_speech
from tests.server.sherpa_offline.tiny_sense_voice import SCRIPT_TEXT
from tests.server.wire import finals, sentences, transcribe
from websockets.asyncio.client import connect

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread

CJK_SPACE = re.compile(r"[\u4e00-\u9fff，。] [\u4e00-\u9fff，。]")
SCRIPT_CHARS = set(SCRIPT_TEXT)


def check_sentence(final: dict[str, Any], partials: list[str]) -> None:
    text = final["text"]
    assert text and set(text) <= SCRIPT_CHARS, text
    assert not CJK_SPACE.search(text), text  # no space between CJK characters
    assert re.search(r"[\u4e00-\u9fff] world|Python [\u4e00-\u9fff]", text) or len(text) < 4  # Latin words spaced
    assert all(text.startswith(p) for p in partials), (partials, text)
    words = final["words"]
    assert words and "".join(w["text"] for w in words) == text.replace(" ", "")
    begins = [w["begin_time"] for w in words]
    assert begins == sorted(begins)
    assert all(final["begin_time"] <= w["begin_time"] <= w["end_time"] <= final["end_time"] for w in words)


@pytest.mark.parametrize(("rate", "model"), [(8000, "fun-asr-flash-8k-realtime"), (16000, "fun-asr-realtime")])
async def test_sentences_partials_and_finals(sense_voice_server: ServerThread, rate: int, model: str) -> None:
    speech = load_speech("long", rate)
    async with connect(sense_voice_server.url) as ws:
        _, events = await transcribe(ws, chunks(speech.pcm, rate // 5), model, sample_rate=rate)
    assert events[-1]["header"]["event"] == "task-finished", events[-1]
    done = finals(events)
    assert len(done) == len(speech.texts)  # one final per sentence: the server's VAD segments
    by_sentence: dict[int, list[str]] = {}
    for sentence, _ in sentences(events):
        if not sentence["sentence_end"] and not sentence.get("heartbeat"):
            by_sentence.setdefault(sentence["sentence_id"], []).append(sentence["text"])
    assert sum(len(p) for p in by_sentence.values()) >= len(done)  # partials came while audio flowed
    for final in done:
        check_sentence(final, by_sentence.get(final["sentence_id"], []))
    ends = [f["end_time"] for f in done]
    assert ends == sorted(ends) and ends[-1] <= speech.duration_ms


async def test_the_client_gets_chinese_text_at_8_khz(sense_voice_server: ServerThread) -> None:
    speech = load_speech("s1", 8000)
    client = fr.Client(url=sense_voice_server.url)
    async with client.stream(model="fun-asr-flash-8k-realtime", sample_rate=8000) as stream:
        await stream.send_audio(speech.pcm)
    texts = [e.sentence.text for e in [e async for e in stream] if isinstance(e, fr.SentenceEvent) and e.is_final]
    assert len(texts) == 1 and set(texts[0]) <= SCRIPT_CHARS
    assert not CJK_SPACE.search(texts[0])
