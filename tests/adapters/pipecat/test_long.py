"""A minute of speech through the Pipecat service at 4x real time, with Pipecat's own run_test.

64 s of speech (the six-sentence fixture three times, see ``tests.adapters.minute``) against
the real grammar server, fed as a transport faster than real time would: every sentence
comes back, in order, with no reconnect and no ErrorFrame. It depends on the core telling a
busy server from a dead one and on its progress-following wait at the ``EndFrame``.
"""

from __future__ import annotations

import funasr_realtime as fr
from funasr_realtime.server.thread import ServerThread
from tests.adapters.minute import minute_of_speech

from .helpers import FunAsrRealtimeSTTService, errors, realtime, run, transcripts


async def test_a_minute_at_4x_gives_every_sentence_without_a_reconnect(grammar_server: ServerThread) -> None:
    pcm, texts = minute_of_speech()
    stt = FunAsrRealtimeSTTService(url=grammar_server.url)
    reconnects: list[fr.Reconnected] = []

    @stt.event_handler("on_reconnected")
    async def on_reconnected(service: FunAsrRealtimeSTTService, event: fr.Reconnected) -> None:
        reconnects.append(event)

    down, up = await run(stt, realtime(pcm, speed=4))  # run_test's EndFrame ends the input
    assert not errors(up)
    assert [t.text for t in transcripts(down)] == texts
    assert reconnects == []
    last = transcripts(down)[-1].result
    assert isinstance(last, fr.Sentence) and last.end_time is not None and last.end_time <= len(pcm) // 32
