"""``serve --engine sherpa-funasr-nano``: a task's vocabulary and context reach Nano's prompt.

Over a real ServerThread: ``vocabulary_id`` names a vocabulary of the server's store, whose
words become Nano's hot words; ``input.context`` of run-task, and of a continue-task later,
becomes its prompt.  The tiny model marks both in its text (``热词``, ``前文``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import chunks, load_speech
from tests.server.sherpa_offline.tiny_nano import CONTEXT, HOT, SCRIPT_TEXT
from tests.server.wire import events_until_end, finals, finish_task, new_task_id, recv_event, run_task
from websockets.asyncio.client import connect

from funasr_realtime.protocol.vocabulary import HotWord
from funasr_realtime.server.thread import ServerThread


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "input_text", "text": text}]}


def with_input(frame: str, input: dict[str, Any]) -> str:
    message = json.loads(frame)
    message["payload"]["input"] = input
    return json.dumps(message)


async def task_finals(url: str, frames: list[bytes | str], *, input: dict[str, Any], **parameters: Any) -> list[str]:
    """One task on a new connection: run-task with ``input``, then ``frames`` (audio, or text frames
    built from the task id by formatting ``{task_id}``), then finish-task.  Its finals' texts."""
    async with connect(url) as ws:
        task_id = new_task_id()
        await ws.send(with_input(run_task(task_id, **parameters), input))
        assert (await recv_event(ws))["header"]["event"] == "task-started"
        for frame in frames:
            await ws.send(frame.replace("{task_id}", task_id) if isinstance(frame, str) else frame)
        await ws.send(finish_task(task_id))
        events = await events_until_end(ws)
    assert events[-1]["header"]["event"] == "task-finished", events[-1]
    return [sentence["text"] for sentence in finals(events)]


def continue_task(input: dict[str, Any]) -> str:
    header = {"action": "continue-task", "task_id": "{task_id}", "streaming": "duplex"}
    return json.dumps({"header": header, "payload": {"input": input}}, ensure_ascii=False)


def script_only(text: str) -> bool:
    return bool(text) and set(text) <= set(SCRIPT_TEXT)


async def test_plain_task_and_8_khz(nano_server: ServerThread) -> None:
    speech = load_speech("s1", 8000)
    texts = await task_finals(
        nano_server.url, list(chunks(speech.pcm, 1600)), input={}, model="fun-asr-flash-8k-realtime", sample_rate=8000
    )
    assert len(texts) == 1 and script_only(texts[0]), texts


async def test_vocabulary_and_context_reach_nano(nano_server: ServerThread) -> None:
    vocabulary = nano_server.server.vocabularies.create("fun-asr-realtime", "nano", (HotWord(text="Sherpa", weight=4),))
    audio = list(chunks(load_speech("s1").pcm))
    with_words = await task_finals(nano_server.url, audio, input={}, vocabulary_id=vocabulary.vocabulary_id)
    assert with_words[0].startswith(HOT) and script_only(with_words[0][len(HOT) :])
    with_context = await task_finals(nano_server.url, audio, input={"context": [user("@ the last turn")]})
    assert with_context[0].startswith(CONTEXT) and not with_context[0].startswith(HOT)
    both = await task_finals(
        nano_server.url, audio, input={"context": [user("@")]}, vocabulary_id=vocabulary.vocabulary_id
    )
    assert both[0].startswith(HOT + CONTEXT)


async def test_a_continue_task_s_context_applies_to_the_next_sentences(nano_server: ServerThread) -> None:
    speech = load_speech("long")
    cut = len(speech.pcm) // 2 // 3200 * 3200
    frames: list[bytes | str] = [*chunks(speech.pcm[:cut]), continue_task({"context": [user("@ now")]})]
    frames += list(chunks(speech.pcm[cut:]))
    texts = await task_finals(nano_server.url, frames, input={})
    assert len(texts) == len(speech.texts)
    assert not texts[0].startswith(CONTEXT) and texts[-1].startswith(CONTEXT), texts
