"""No funasr-realtime task outlives the Pipecat service, whichever way the pipeline ends.

Checked with ``tests.adapters.leaks`` (an ``asyncio.all_tasks()`` diff) right after
``run_test`` returns, i.e. after the service's ``stop()``/``cancel()`` and ``cleanup()``.
"""

from __future__ import annotations

import pytest
from pipecat.frames.frames import CancelFrame, Frame
from pipecat.tests.utils import SleepFrame

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread
from funasr_realtime.testing import FaultProxy
from tests.adapters.leaks import describe, pending_funasr_tasks
from tests.conftest import load_speech

from .helpers import FunAsrRealtimeSTTService, audio, errors, run, transcripts, vad_stop

FAST = fr.Resilience(max_retries=1, backoff_initial=0.05, backoff_max=0.1, standby=False)


def ending(how: str) -> tuple[list[Frame], bool]:
    """The frames after the speech, and whether run_test sends its EndFrame."""
    if how == "end-frame":
        return [], True
    if how == "vad-stop-then-end":
        return [vad_stop(), SleepFrame(0.5)], True
    return [CancelFrame()], False  # "cancel": abort mid-utterance


@pytest.mark.parametrize("how", ["end-frame", "vad-stop-then-end", "cancel"])
async def test_no_task_left_after_the_pipeline_ends(grammar_server: ServerThread, how: str) -> None:
    speech = load_speech("s1")
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    tail, send_end = ending(how)
    down, up = await run(stt, [*audio(speech.pcm), *tail], send_end_frame=send_end)
    leaked = pending_funasr_tasks()
    assert leaked == [], describe(leaked)
    assert not errors(up)
    if how != "cancel":
        assert [t.text for t in transcripts(down)] == [speech.text]


async def test_no_task_left_after_a_failure(grammar_server: ServerThread) -> None:
    """The core gives up (every handshake refused): one ErrorFrame, and nothing left running."""
    speech = load_speech("s2")
    async with FaultProxy(grammar_server.url) as proxy:
        proxy.reject_handshakes(503, count=100)
        stt = FunAsrRealtimeSTTService(url=proxy.url, resilience=FAST)
        _, up = await run(stt, [*audio(speech.pcm), vad_stop(), SleepFrame(0.5)])
        leaked = pending_funasr_tasks()
    assert leaked == [], describe(leaked)
    assert len(errors(up)) == 1
