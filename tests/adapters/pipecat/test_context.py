"""Pipecat context carryover: the assistant-turn hook feeds the Fun-ASR context, and emotion
is on the transcription frames' ``result``."""

from __future__ import annotations

from pipecat.frames.frames import LLMContextAssistantTurnFrame
from pipecat.tests.utils import SleepFrame
from pipecat.utils.time import time_now_iso8601
from pipecat_funasr_realtime import FunAsrRealtimeSTTService

import funasr_realtime as fr
from funasr_realtime.testing import MockTransport
from tests.context_server import Recorder, texts

from .helpers import audio, run, vad_stop

SILENCE = b"\x00\x00" * 8000  # 500 ms


def reply(text: str) -> LLMContextAssistantTurnFrame:
    """What Pipecat's assistant aggregator broadcasts at the end of a bot turn."""
    return LLMContextAssistantTurnFrame(text=text, timestamp=time_now_iso8601())


async def test_assistant_turns_become_the_stream_s_context() -> None:
    server = Recorder()
    service = FunAsrRealtimeSTTService(transport=MockTransport(server))
    frames = [
        *audio(SILENCE),
        SleepFrame(0.2),
        reply("Which city?"),
        SleepFrame(0.2),
        vad_stop(),
        *audio(SILENCE),
        reply("  "),  # nothing to carry
        SleepFrame(0.2),
    ]
    await run(service, frames)
    first, second = server.run_tasks[:2]
    assert texts(first.input) == []
    assert texts(second.input) == [("assistant", "Which city?")]
    assert [texts(m.input) for m in server.continue_tasks] == [[("assistant", "Which city?")]]
    assert server.continue_tasks[0].task_id == first.task_id


async def test_a_model_without_context_gets_none() -> None:
    server = Recorder()
    service = FunAsrRealtimeSTTService(transport=MockTransport(server), model="paraformer-realtime-v2", region="cn")
    await run(service, [*audio(SILENCE), reply("Which city?"), SleepFrame(0.2)])
    assert server.continue_tasks == []
    assert all(task.input == {} for task in server.run_tasks)


def test_emotion_is_on_the_sentence_a_frame_carries() -> None:
    sentence = fr.Sentence.model_validate(
        {"text": "好的", "end_time": 500, "sentence_end": True, "emo_tag": "negative", "emo_confidence": 0.7}
    )
    assert sentence.emotion == fr.Emotion("negative", 0.7)
    assert fr.Sentence(text="ok").emotion is None
