"""The local server's context handling: validated in run-task and continue-task, limits applied
as the service documents them, and reported in each final's ``payload.output.local_debug``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conftest import chunks, load_speech
from tests.server.wire import events_until_end, finish_task, new_task_id, recv_event, run_task, stream, wait_closed
from websockets.asyncio.client import ClientConnection, connect

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def with_input(frame: str, input: dict[str, Any]) -> str:
    message = json.loads(frame)
    message["payload"]["input"] = input
    return json.dumps(message)


def continue_task(task_id: str, input: dict[str, Any]) -> str:
    header = {"action": "continue-task", "task_id": task_id, "streaming": "duplex"}
    return json.dumps({"header": header, "payload": {"input": input}})


def debug_of_finals(events: list[dict[str, Any]]) -> list[Any]:
    return [
        e["payload"]["output"].get("local_debug")
        for e in events
        if e["header"]["event"] == "result-generated" and e["payload"]["output"]["sentence"]["sentence_end"]
    ]


async def begin(ws: ClientConnection, input: dict[str, Any], model: str = "fun-asr-realtime", **kw: Any) -> str:
    task_id = new_task_id()
    await ws.send(with_input(run_task(task_id, model, **kw), input))
    return task_id


async def test_context_is_bounded_and_reported_in_the_finals(grammar_server: ServerThread) -> None:
    context = [user(f"name {i}") for i in range(7)] + [assistant("y" * 450)]
    async with connect(grammar_server.url) as ws:
        task_id = await begin(ws, {"context": context})
        assert (await recv_event(ws))["header"]["event"] == "task-started"
        await stream(ws, chunks(load_speech("s1").pcm))
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws)
    assert events[-1]["header"]["event"] == "task-finished"
    reports = debug_of_finals(events)
    assert reports
    expected = {"messages": 6, "dropped": 2, "truncated": 1, "user": 5, "assistant": 1, "chars": 5 * 6 + 400}
    assert reports == [{"context": expected}] * len(reports)


async def test_continue_task_replaces_the_context_for_later_finals(grammar_server: ServerThread) -> None:
    pcm = load_speech("s1").pcm
    async with connect(grammar_server.url) as ws:
        task_id = await begin(ws, {})
        assert (await recv_event(ws))["header"]["event"] == "task-started"
        await ws.send(continue_task(task_id, {"context": [user("pocketsphinx"), assistant("hello")]}))
        await stream(ws, chunks(pcm))
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws)
    reports = debug_of_finals(events)
    assert reports
    expected = {"messages": 2, "dropped": 0, "truncated": 0, "user": 1, "assistant": 1, "chars": 17}
    assert reports == [{"context": expected}] * len(reports)


async def test_a_task_without_context_sends_no_debug_output(grammar_server: ServerThread) -> None:
    async with connect(grammar_server.url) as ws:
        task_id = await begin(ws, {})
        assert (await recv_event(ws))["header"]["event"] == "task-started"
        await stream(ws, chunks(load_speech("s1").pcm))
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws)
    reports = debug_of_finals(events)
    assert reports and reports == [None] * len(reports)


@pytest.mark.parametrize(
    "context",
    [
        "text",
        [{"role": "system", "content": [{"type": "text", "text": "x"}]}],
        [{"role": "user", "content": [{"type": "image_url", "text": "x"}]}],
        [{"role": "user", "content": []}],
        [{"role": "user"}],
    ],
)
async def test_malformed_context_fails_run_task_with_invalid_parameter(
    grammar_server: ServerThread, context: object
) -> None:
    async with connect(grammar_server.url) as ws:
        await begin(ws, {"context": context})
        event = await recv_event(ws)
        assert (event["header"]["event"], event["header"]["error_code"]) == ("task-failed", "InvalidParameter")
        assert "context" in event["header"]["error_message"]
        await wait_closed(ws)


async def test_malformed_context_fails_continue_task_with_invalid_parameter(grammar_server: ServerThread) -> None:
    async with connect(grammar_server.url) as ws:
        task_id = await begin(ws, {})
        assert (await recv_event(ws))["header"]["event"] == "task-started"
        await ws.send(continue_task(task_id, {"context": [{"role": "robot", "text": "x"}]}))
        event = await recv_event(ws)
        assert (event["header"]["event"], event["header"]["error_code"]) == ("task-failed", "InvalidParameter")
        await wait_closed(ws)


async def test_context_for_a_model_without_it_is_refused(grammar_server: ServerThread) -> None:
    async with connect(grammar_server.url) as ws:
        await begin(ws, {"context": [user("x")]}, "paraformer-realtime-v2")
        event = await recv_event(ws)
        assert (event["header"]["error_code"], event["header"]["error_message"]) == (
            "InvalidParameter",
            "Model paraformer-realtime-v2 does not support context.",
        )


async def test_the_client_s_context_reaches_the_server(grammar_server: ServerThread) -> None:
    client = fr.Client(url=grammar_server.url)
    speech = load_speech("s1")
    async with client.stream(context=[fr.ContextMessage.user("hello")]) as stream:
        await stream.send_audio(speech.pcm)
        await stream.update_context([fr.ContextMessage.user("hello"), fr.ContextMessage.assistant("hi")])
    finals = [e.sentence.text for e in [e async for e in stream] if isinstance(e, fr.SentenceEvent) and e.is_final]
    assert " ".join(finals) == speech.text
