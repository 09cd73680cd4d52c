"""The stream's handles on the real local server: finalize requests, task_open, resume_from."""

from __future__ import annotations

import asyncio

import pytest

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.conftest import GRAMMAR, chunks, load_speech
from tests.timing import scaled

LONG_SPANS = [(300, 2188), (3688, 5867), (7367, 9559), (11059, 13095), (14595, 16526), (18026, 20018)]


async def collect(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


def finals(events: list[fr.StreamEvent]) -> list[fr.Sentence]:
    return [e.sentence for e in events if isinstance(e, fr.SentenceEvent) and e.is_final]


async def test_finalize_returns_the_request_its_task_completed_answers(grammar_server: ServerThread) -> None:
    first, second = load_speech("s2"), load_speech("s5")
    async with fr.Client(url=grammar_server.url).stream() as stream:
        reader = asyncio.create_task(collect(stream))
        assert not stream.task_open, "no audio yet: no task"
        for chunk in chunks(first.pcm):
            await stream.send_audio(chunk)
        assert stream.task_open
        request = await stream.finalize()
        assert isinstance(request, fr.FinalizeRequest)
        assert not stream.task_open, "finalized: the next audio opens a new task"
        assert await stream.finalize() is None, "nothing sent since: a no-op"
        for chunk in chunks(second.pcm):
            await stream.send_audio(chunk)
        assert stream.task_open
        await stream.finish()
        assert not stream.task_open
        events = await reader
    assert [s.text for s in finals(events)] == [first.text, second.text]
    completed = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert [c.request_id for c in completed] == [request.request_id, request.request_id + 1], "finish is a request too"
    assert all(c.finalized for c in completed)
    ends = [round(len(first.pcm) / 32), round(len(first.pcm + second.pcm) / 32)]
    assert [c.end_ms for c in completed] == ends, "where each task ends on the stream"
    assert completed[1].metrics.offset_ms == completed[0].end_ms, "the next task starts where the last ended"
    # The answer to the request is the final that came right before its TaskCompleted.
    answer = events[events.index(completed[0]) - 1]
    assert isinstance(answer, fr.SentenceEvent) and answer.is_final and answer.sentence.text == first.text


async def test_an_idle_finish_answers_no_request() -> None:
    speech = load_speech("s1")
    with ServerThread(ServerConfig(grammar=GRAMMAR)) as server:
        async with fr.Client(url=server.url, resilience=fr.Resilience(idle_finish=0.3)).stream() as stream:
            events: list[fr.StreamEvent] = []
            done = asyncio.Event()

            async def read() -> None:
                async for event in stream:
                    events.append(event)
                    if isinstance(event, fr.TaskCompleted):
                        done.set()

            reader = asyncio.create_task(read())
            for chunk in chunks(speech.pcm, 16000):
                await stream.send_audio(chunk)
            assert stream.task_open
            async with asyncio.timeout(scaled(5)):
                await done.wait()  # nothing sent for 0.3 s: the stream finished the task
            assert not stream.task_open
            await stream.finish()
            await reader
    [completed] = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert (completed.finalized, completed.request_id, completed.end_ms) == (False, None, round(len(speech.pcm) / 32))


async def test_a_closed_stream_resumes_in_a_new_one_on_the_same_timeline(grammar_server: ServerThread) -> None:
    """Abort mid-way through the third sentence of the long recording, resume in a new
    stream: the words no final covered are recognized there, at their stream times."""
    speech = load_speech("long")
    cut = 8000 * 32  # 8 s: two sentences finalized, the third one half spoken
    client = fr.Client(url=grammar_server.url)
    old = client.stream(max_sentence_silence=600)
    await old.connect()
    before: list[fr.StreamEvent] = []
    two_finals = asyncio.Event()

    async def read_old() -> None:
        async for event in old:
            before.append(event)
            if len(finals(before)) == 2:
                two_finals.set()

    reader = asyncio.create_task(read_old())
    for chunk in chunks(speech.pcm[:cut]):
        await old.send_audio(chunk)
    async with asyncio.timeout(scaled(10)):
        await two_finals.wait()
    await old.aclose()
    await reader
    point = old.resume_point()
    covered = finals(before)[-1].end_time
    assert covered is not None and abs(point.offset_ms - covered) <= 1, "from the end of the last delivered final"
    assert point.sample_rate == 16000 and len(point.audio) == cut - point.offset_ms * 32

    async with client.stream(max_sentence_silence=600, resume_from=point) as new:
        reader = asyncio.create_task(collect(new))
        for chunk in chunks(speech.pcm[cut:]):
            await new.send_audio(chunk)
        await new.finish()
        after = await reader
    duration_ms = round(len(speech.pcm) / 32)
    assert new.audio_ms == duration_ms, "the new stream's timeline continues the old one"
    got = finals(before) + finals(after)
    assert [s.text for s in got] == list(speech.texts), "no word lost, none twice"
    for sentence, (begin, end) in zip(got, LONG_SPANS, strict=True):
        assert abs(sentence.begin_time - begin) < 400 and sentence.end_time is not None
        assert abs(sentence.end_time - end) < 400, (sentence.end_time, end)
    completed = [e for e in after if isinstance(e, fr.TaskCompleted)]
    assert completed[0].metrics.offset_ms == point.offset_ms and completed[-1].end_ms == duration_ms


def test_resuming_audio_of_another_sample_rate_is_refused() -> None:
    point = fr.ResumePoint(1000, b"\x00\x00" * 160, 16000)
    client = fr.Client(url="ws://127.0.0.1:9/api-ws/v1/inference")
    with pytest.raises(fr.LocalProtocolError, match="16000 Hz audio in a 8000 Hz stream"):
        client.stream(model="fun-asr-flash-8k-realtime", sample_rate=8000, resume_from=point)
