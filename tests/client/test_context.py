"""Context biasing on a stream: sent with every run-task (rotations and replays included),
updated mid-task by continue-task, gated by the model's capability flag.

The servers are scripted in memory (:class:`~funasr_realtime.testing.MockTransport`): what
is asserted is what the client puts on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import funasr_realtime as fr
from funasr_realtime.protocol import check_compatibility
from funasr_realtime.protocol.params import _warned
from funasr_realtime.testing import MockTransport
from tests.context_server import Recorder
from tests.timing import scaled

ONE_SECOND = b"\x00\x00" * 16000
FAST = fr.Resilience(max_retries=3, backoff_initial=0.01, backoff_max=0.05)
TOPIC = [fr.ContextMessage.user("Fun-ASR, DashScope, Qwen")]


def wire(messages: list[fr.ContextMessage]) -> dict[str, Any]:
    return {"context": [message.to_wire() for message in messages]}


def client(recorder: Recorder, **options: Any) -> fr.Client:
    return fr.Client(transport=MockTransport(recorder), resilience=FAST, **options)


async def drain(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


async def test_context_is_sent_with_every_run_task_after_a_finalize() -> None:
    recorder = Recorder()
    async with client(recorder).stream(context=TOPIC) as stream:
        reader = asyncio.create_task(drain(stream))
        await stream.send_audio(ONE_SECOND)
        await stream.finalize()
        await stream.send_audio(ONE_SECOND)  # a new task: the rotation
    await reader
    assert len(recorder.run_tasks) == 2
    assert [task.input for task in recorder.run_tasks] == [wire(TOPIC)] * 2
    assert all("context" not in task.parameters for task in recorder.run_tasks)


async def test_context_is_sent_again_when_a_dropped_task_is_replayed() -> None:
    recorder = Recorder(drop_first=True)
    async with client(recorder).stream(context=TOPIC) as stream:
        reader = asyncio.create_task(drain(stream))
        await stream.send_audio(ONE_SECOND)
    events = await reader
    assert any(isinstance(event, fr.Reconnected) for event in events)
    assert len(recorder.run_tasks) == 2
    assert [task.input for task in recorder.run_tasks] == [wire(TOPIC)] * 2


async def test_update_context_sends_continue_task_and_later_tasks_carry_it() -> None:
    recorder = Recorder()
    newer = [*TOPIC, fr.ContextMessage.assistant("Which model do you use?")]
    async with client(recorder).stream(context=TOPIC) as stream:
        reader = asyncio.create_task(drain(stream))
        await stream.send_audio(ONE_SECOND)
        await asyncio.wait_for(recorder.audio.wait(), scaled(5))
        params = await stream.update_context(newer)
        await stream.send_audio(ONE_SECOND)
        await stream.finalize()
        await stream.send_audio(ONE_SECOND)
    await reader
    assert params.context == tuple(newer)
    assert [m.input for m in recorder.continue_tasks] == [wire(newer)]
    first, second = recorder.run_tasks
    assert recorder.continue_tasks[0].task_id == first.task_id
    assert (first.input, second.input) == (wire(TOPIC), wire(newer))


async def test_update_context_reaches_a_replay_of_the_open_task() -> None:
    recorder = Recorder()
    newer = [fr.ContextMessage.user("flight LH 721")]
    async with client(recorder).stream() as stream:
        reader = asyncio.create_task(drain(stream))
        await stream.send_audio(ONE_SECOND)
        await asyncio.wait_for(recorder.audio.wait(), scaled(5))
        await stream.update_context(newer)
        recorder.drop_first = True  # the next audio frame resets the connection: a replay
        await stream.send_audio(ONE_SECOND)
    await reader
    first, second = recorder.run_tasks
    assert (first.input, second.input) == ({}, wire(newer))
    assert [m.input for m in recorder.continue_tasks] == [wire(newer)]


async def test_update_context_without_an_open_task_only_changes_later_tasks() -> None:
    recorder = Recorder()
    async with client(recorder).stream() as stream:
        reader = asyncio.create_task(drain(stream))
        await stream.update_context(TOPIC)
        await stream.send_audio(ONE_SECOND)
    await reader
    assert recorder.continue_tasks == []
    assert [task.input for task in recorder.run_tasks] == [wire(TOPIC)]


async def test_an_empty_context_clears_it() -> None:
    recorder = Recorder()
    async with client(recorder).stream(context=TOPIC) as stream:
        reader = asyncio.create_task(drain(stream))
        await stream.send_audio(ONE_SECOND)
        await asyncio.wait_for(recorder.audio.wait(), scaled(5))
        await stream.update_context([])
        await stream.finalize()
        await stream.send_audio(ONE_SECOND)
    await reader
    assert [m.input for m in recorder.continue_tasks] == [{"context": []}]
    assert [task.input for task in recorder.run_tasks] == [wire(TOPIC), {}]


def test_context_is_bounded_as_the_service_does() -> None:
    users = [fr.ContextMessage.user(f"u{i}") for i in range(7)]
    long = fr.ContextMessage.assistant("x" * 450)
    params = fr.RecognitionParams(context=[*users, long])
    assert params.context == (*users[2:], fr.ContextMessage.assistant("x" * 400))
    # Other spellings of a message: {"role", "text"} and the wire shape.
    same = fr.RecognitionParams(context=[{"role": "user", "text": "a"}, fr.ContextMessage.user("b").to_wire()])
    assert same.context == (fr.ContextMessage.user("a"), fr.ContextMessage.user("b"))


@pytest.mark.parametrize(
    "context",
    ["just a string", [{"role": "system", "text": "x"}], [{"role": "user", "content": [{"type": "image"}]}], [3]],
)
def test_malformed_context_is_a_configuration_error(context: object) -> None:
    with pytest.raises(fr.ConfigurationError, match="context"):
        fr.RecognitionParams(context=context)


@pytest.mark.parametrize(
    "model", ["paraformer-realtime-v2", "paraformer-realtime-8k-v2", "fun-asr-realtime-2025-09-15"]
)
async def test_context_is_refused_before_sending_on_a_model_without_it(model: str) -> None:
    recorder = Recorder()
    rate = fr.default_sample_rate(model)
    with pytest.raises(fr.ConfigurationError, match="does not support context"):
        client(recorder, region=fr.Region.CN).stream(model=model, sample_rate=rate, context=TOPIC)
    stream = client(recorder, region=fr.Region.CN).stream(model=model, sample_rate=rate)
    with pytest.raises(fr.ConfigurationError, match="does not support context"):
        await stream.update_context(TOPIC)
    assert stream.params.context is None
    await stream.aclose()
    assert recorder.messages == []


def test_context_on_a_model_the_docs_disagree_on_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    _warned.discard(("fun-asr-realtime-2025-11-07", "context"))
    params = fr.RecognitionParams(model="fun-asr-realtime-2025-11-07", context=TOPIC)
    with caplog.at_level(logging.WARNING, "funasr_realtime.protocol.params"):
        check_compatibility(params, fr.Region.INTL)
        check_compatibility(params, fr.Region.INTL)
    warnings = [r.getMessage() for r in caplog.records if "context" in r.getMessage()]
    assert len(warnings) == 1
    assert "documentation disagrees" in warnings[0]
