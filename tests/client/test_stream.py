"""The asyncio client with real speech: against the real local server on loopback (the whole
path, the wire included), and in memory for the stream's logic (rotation, ordering, params,
prewarm, close), where the local server's recognition runs behind a MockTransport."""

from __future__ import annotations

import asyncio

import pytest

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread
from tests.client.scripted import mock_client
from tests.conftest import chunks, load_speech


async def collect(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


def finals(events: list[fr.StreamEvent]) -> list[fr.Sentence]:
    return [e.sentence for e in events if isinstance(e, fr.SentenceEvent) and e.is_final]


async def stream_pcm(stream: fr.RecognitionStream, pcm: bytes, frame: int = 3200) -> None:
    for chunk in chunks(pcm, frame):
        await stream.send_audio(chunk)


async def test_partials_then_final_with_exact_text(grammar_server: ServerThread) -> None:
    speech = load_speech("s1")
    client = fr.Client(url=grammar_server.url)
    async with client.stream() as stream:
        reader = asyncio.create_task(collect(stream))
        await stream_pcm(stream, speech.pcm)
        await stream.finish()
        events = await reader
    sentences = [e for e in events if isinstance(e, fr.SentenceEvent)]
    assert sentences[0].is_final is False, "a partial comes before the final"
    assert sentences[-1].is_final
    [final] = finals(events)
    assert final.text == speech.text
    final_event = next(e for e in events if isinstance(e, fr.SentenceEvent) and e.is_final)
    assert final_event.usage is not None and final_event.usage.duration == 3, "usage comes with the final"
    assert all(e.usage is None for e in sentences if not e.is_final)
    assert final.end_time is not None
    for word in final.words:
        assert final.begin_time <= word.begin_time <= word.end_time <= final.end_time
    assert [w.text for w in final.words] == speech.text.split()
    completed = [e for e in events if isinstance(e, fr.TaskCompleted)]
    assert len(completed) == 1 and completed[0].finalized
    metrics = completed[0].metrics
    assert metrics.audio_bytes == len(speech.pcm)
    assert metrics.billed_seconds == 3  # 2.49 s of audio, billed in whole seconds
    assert metrics.first_package_delay_ms is not None and metrics.first_package_delay_ms > 0
    assert metrics.last_package_delay_ms is not None
    assert stream.billed_seconds == 3


async def test_finalize_rotates_tasks_without_losing_audio() -> None:
    """Finalize in every pause of the long recording: each sentence comes from its own task,
    on one stream timeline, and every byte of audio reached a task."""
    speech = load_speech("long")
    spans = [(300, 2188), (3688, 5867), (7367, 9559), (11059, 13095), (14595, 16526), (18026, 20018)]
    client = mock_client()
    async with client.stream(max_sentence_silence=6000) as stream:
        reader = asyncio.create_task(collect(stream))
        position_ms = 0
        pending = list(spans)
        for chunk in chunks(speech.pcm):
            await stream.send_audio(chunk)
            position_ms += 100
            if pending and position_ms >= pending[0][1] + 500:
                pending.pop(0)
                await stream.finalize()
        await stream.finish()
        events = await reader
    got = finals(events)
    assert [s.text for s in got] == list(speech.texts)
    for sentence, (begin, end) in zip(got, spans, strict=True):
        assert abs(sentence.begin_time - begin) < 400, (sentence.begin_time, begin)
        assert sentence.end_time is not None and abs(sentence.end_time - end) < 400, (sentence.end_time, end)
        assert all(begin - 400 < w.begin_time < end + 400 for w in sentence.words)
    completed = [e.metrics for e in events if isinstance(e, fr.TaskCompleted)]
    assert len(completed) == 6  # five finalized in the pauses, the last one by finish()
    assert sum(m.audio_bytes for m in completed) == len(speech.pcm), "no audio lost across rotations"
    offsets = [m.offset_ms for m in completed]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert len({m.task_id for m in completed}) == 6, "a fresh task id per task"


async def test_events_keep_task_order_while_audio_arrives_during_drain() -> None:
    """Audio sent right after finalize is buffered while the old task drains: the old final
    still comes before anything of the new task."""
    first, second = load_speech("s2"), load_speech("s5")
    async with mock_client().stream() as stream:
        reader = asyncio.create_task(collect(stream))
        await stream_pcm(stream, first.pcm)
        await stream.finalize()
        await stream_pcm(stream, second.pcm, frame=16000)
        await stream.finish()
        events = await reader
    assert [s.text for s in finals(events)] == [first.text, second.text]
    task_ids = [e.task_id if isinstance(e, fr.SentenceEvent) else e.metrics.task_id for e in events]
    first_task = task_ids[0]
    boundary = task_ids.index(next(t for t in task_ids if t != first_task))
    assert set(task_ids[:boundary]) == {first_task}
    second_start = finals(events)[1].begin_time
    assert second_start >= first.duration_ms - 100, "second task's times are on the stream timeline"


async def test_8khz_model_recognizes_8khz_audio(grammar_server: ServerThread) -> None:
    speech = load_speech("s3", 8000)
    async with fr.Client(url=grammar_server.url).stream(model="fun-asr-flash-8k-realtime", sample_rate=8000) as stream:
        reader = asyncio.create_task(collect(stream))
        await stream_pcm(stream, speech.pcm, frame=1600)
        await stream.finish()
        events = await reader
    assert [s.text for s in finals(events)] == [speech.text]


async def test_general_model_word_error_rate_is_bounded(open_server: ServerThread) -> None:
    speech = load_speech("long")
    async with fr.Client(url=open_server.url).stream(max_sentence_silence=800) as stream:
        reader = asyncio.create_task(collect(stream))
        await stream_pcm(stream, speech.pcm, frame=16000)
        await stream.finish()
        events = await reader
    hypothesis = " ".join(s.text for s in finals(events)).split()
    reference = speech.text.split()
    assert word_error_rate(reference, hypothesis) < 0.35


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1] / len(reference)


async def test_prewarm_opens_the_connection_before_audio() -> None:
    stream = mock_client().stream()
    await stream.connect()
    assert stream.connections and all(c.alive for c in stream.connections)
    await stream.aclose()


async def test_update_params_applies_to_the_next_task() -> None:
    speech = load_speech("s4")
    async with mock_client().stream() as stream:
        reader = asyncio.create_task(collect(stream))
        await stream_pcm(stream, speech.pcm)
        stream.update_params(max_sentence_silence=500, language_hints=["en"])
        await stream.finalize()
        await stream_pcm(stream, speech.pcm)
        await stream.finish()
        events = await reader
    assert [s.text for s in finals(events)] == [speech.text, speech.text]
    assert stream.params.max_sentence_silence == 500
    with pytest.raises(fr.LocalProtocolError, match="cannot change"):
        stream.update_params(sample_rate=8000)
    with pytest.raises(fr.ConfigurationError):
        stream.update_params(max_sentence_silence=10)


async def test_aclose_ends_iteration_without_results() -> None:
    speech = load_speech("s1")
    stream = mock_client().stream()
    await stream.connect()
    await stream_pcm(stream, speech.pcm[: len(speech.pcm) // 2])
    reader = asyncio.create_task(collect(stream))
    await asyncio.sleep(0.2)
    await stream.aclose()
    events = await asyncio.wait_for(reader, 5)
    assert not any(isinstance(e, fr.TaskCompleted) for e in events)
    with pytest.raises(fr.LocalProtocolError, match="closed"):
        await stream.send_audio(b"\x00\x00")
