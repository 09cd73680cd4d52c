"""The asyncio client on Chinese, over the wire: the local server replays recorded Fun-ASR results.

Text, punctuation and words arrive as the service sends them; sentences of a stream join
without spaces next to Chinese; times stay on the stream's timeline across task rotations.
"""

# ruff: noqa: RUF001  # full-width punctuation is what Chinese text holds, on purpose

from __future__ import annotations

import asyncio
from typing import Any

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread
from tests.replay import MIXED_FINALS, ZH, ZH_FINALS, frames, mixed_server, zh_server

__all__ = ["mixed_server", "zh_server"]  # session fixtures, registered by import


async def run(url: str, *parts: int, **params: Any) -> list[fr.StreamEvent]:
    """Stream silence in ``parts`` (milliseconds each), finalizing between them; all events."""
    client = fr.Client(url=url)
    async with client.stream(language_hints=["zh"], **params) as stream:
        reader = asyncio.create_task(collect(stream))
        for index, ms in enumerate(parts):
            if index:
                await stream.finalize()
            for frame in frames(ms):
                await stream.send_audio(frame)
        await stream.finish()
        return await reader


async def collect(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


def sentences(events: list[fr.StreamEvent], *, final: bool | None = None) -> list[fr.Sentence]:
    return [e.sentence for e in events if isinstance(e, fr.SentenceEvent) and (final is None or e.is_final is final)]


async def test_chinese_text_punctuation_and_words_arrive_as_sent(zh_server: ServerThread) -> None:
    events = await run(zh_server.url, ZH.duration_ms, heartbeat=True)
    finals = sentences(events, final=True)
    assert [s.text for s in finals] == ZH_FINALS
    assert finals == list(ZH.finals), "every field, words and punctuation included"
    assert [(w.text, w.punctuation) for w in finals[0].words[3:5]] == [("好", "，"), ("我们", "")]
    partials = [s.text for s in sentences(events, final=False)]
    assert partials.index("我想买两张去背景") + 1 == partials.index("我想买两张去北京的火车"), "a revision"
    assert not any(s.heartbeat for s in sentences(events)), "heartbeats are not events"
    usages = [e.usage.duration for e in events if isinstance(e, fr.SentenceEvent) and e.usage is not None]
    assert usages == [4, 9, 11]
    assert (
        fr.join_texts(s.text for s in finals)
        == "今天天气很好，我们去公园散步吧。我想买两张去北京的火车票。请问几点发车？"
    )
    assert {fr.detect_language(s.text) for s in finals} == {"zh"}, "Fun-ASR sends no language: the script tells"


async def test_mixed_text_keeps_its_spaces_around_latin_words(mixed_server: ServerThread) -> None:
    finals = sentences(await run(mixed_server.url, 9600), final=True)
    assert [s.text for s in finals] == MIXED_FINALS
    assert finals[0].text == "下午三点我们开个 meeting，讨论一下 Q3 的 roadmap。"
    assert fr.join_texts(s.text for s in finals[1:]) == "请打开 GitHub 上的 README 文件。OK, thank you."
    assert [fr.detect_language(s.text) for s in finals] == ["zh", "zh", "en"]


async def test_times_continue_on_the_stream_timeline_across_rotations(zh_server: ServerThread) -> None:
    events = await run(zh_server.url, 4000, ZH.duration_ms)
    completed = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert [(c.finalized, c.end_ms) for c in completed] == [(True, 4000), (True, 4000 + ZH.duration_ms)]
    finals = sentences(events, final=True)
    assert [s.text for s in finals] == ZH_FINALS[:1] + ZH_FINALS, "each task replays the recording from its start"
    first, *second = finals
    assert first == ZH.finals[0]
    assert second == [s.shifted(4000) for s in ZH.finals]
    assert (second[0].begin_time, second[0].words[0].begin_time, second[-1].end_time) == (4240, 4240, 14_100)
    assert len({e.task_id for e in events if isinstance(e, fr.SentenceEvent)}) == 2


async def test_a_rotation_mid_sentence_flushes_it_cut_at_the_rotation(zh_server: ServerThread) -> None:
    events = await run(zh_server.url, 2000, 3500)
    first, second = sentences(events, final=True)
    assert first.text == second.text == ZH_FINALS[0]
    assert (first.begin_time, first.end_time) == (240, 2000), "the flush ends with the task's audio"
    assert max(w.end_time for w in first.words) <= 2000
    assert (second.begin_time, second.end_time) == (2240, 4760)
    partials = sentences(events, final=False)
    assert [p.begin_time for p in partials] == [240] * 4 + [2240] * 5
