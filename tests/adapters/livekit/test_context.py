"""LiveKit context carryover: the chat-context and keyterms hooks of livekit-agents 1.8.9
feed the Fun-ASR context, and emotion reaches ``SpeechData.metadata``."""

from __future__ import annotations

import asyncio

from livekit.agents import stt
from livekit.agents.llm import ChatMessage
from livekit.agents.voice.events import ConversationItemAddedEvent
from livekit.plugins import funasr_realtime
from livekit.plugins.funasr_realtime._events import speech_data

import funasr_realtime as fr
from funasr_realtime.testing import MockTransport
from tests.adapters.livekit.helpers import Recorder as Events
from tests.adapters.livekit.helpers import frames, push, silence
from tests.context_server import Recorder, texts
from tests.timing import scaled


def item(role: str, text: str) -> ConversationItemAddedEvent:
    return ConversationItemAddedEvent(item=ChatMessage(role=role, content=[text]))  # type: ignore[arg-type]


def test_the_hooks_are_advertised_only_for_models_that_take_context() -> None:
    caps = funasr_realtime.STT(url="ws://127.0.0.1:1/api-ws/v1/inference").capabilities
    assert (caps.keyterms, caps.chat_context) == (True, True)
    paraformer = funasr_realtime.STT(url="ws://127.0.0.1:1/api-ws/v1/inference", model="paraformer-realtime-v2")
    assert (paraformer.capabilities.keyterms, paraformer.capabilities.chat_context) == (False, False)
    paraformer._push_conversation_item(item("user", "ignored"))  # LiveKit's own "not supported" path
    paraformer._update_session_keyterms(["ignored"])
    assert paraformer._settings.params.context is None


async def test_conversation_items_and_keyterms_become_the_stream_s_context() -> None:
    server = Recorder()
    plugin = funasr_realtime.STT(transport=MockTransport(server))
    plugin._push_conversation_item(item("user", "Book me a flight"))
    plugin._push_conversation_item(item("system", "never sent"))
    stream = plugin.stream()
    events = Events(stream)
    await push(stream, frames(silence(300, 16000), 16000), pace=0.0)
    await asyncio.wait_for(server.audio.wait(), scaled(5))
    plugin._push_conversation_item(item("assistant", "Where to?"))
    plugin._update_session_keyterms(["Hangzhou", "Qwen"])
    await asyncio.sleep(scaled(0.2))
    stream.flush()
    await push(stream, frames(silence(300, 16000), 16000), pace=0.0)
    stream.end_input()
    await events.finish(scaled(15))
    await stream.aclose()
    first, second = server.run_tasks
    assert texts(first.input) == [("user", "Book me a flight")]
    latest = [("user", "Book me a flight"), ("assistant", "Where to?"), ("user", "Hangzhou, Qwen")]
    assert texts(second.input) == latest
    updates = [texts(m.input) for m in server.continue_tasks]
    assert updates and updates[-1] == latest
    assert all(m.task_id == first.task_id for m in server.continue_tasks)


def test_emotion_is_in_the_metadata_of_a_final() -> None:
    sentence = fr.Sentence.model_validate(
        {"text": "好的", "end_time": 500, "sentence_end": True, "emo_tag": "positive", "emo_confidence": 0.8}
    )
    data = speech_data(sentence, offset=0.0, language=None)
    assert data.metadata == {"emotion": "positive", "emotion_confidence": 0.8}
    plain = speech_data(fr.Sentence(text="ok", end_time=500, sentence_end=True), offset=0.0, language=None)
    assert plain.metadata is None
    assert isinstance(data, stt.SpeechData)
