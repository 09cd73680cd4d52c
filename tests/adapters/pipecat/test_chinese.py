"""The Pipecat service on Chinese inside real pipelines: the local server's replay engine, in memory.

The recorded Fun-ASR results (``funasr_realtime.server.replay``) reach Pipecat as interim and
final transcripts marked as text that carries its own spacing, so Pipecat joins a turn's
sentences without inserting spaces between Chinese characters; transcripts carry the task's
language and stream times that continue across turns (task rotations).

The joining is Pipecat's own: ``concatenate_aggregated_text`` over the parts its user
aggregator makes of each transcript (``TextPartForConcatenation(text,
includes_inter_part_spaces=frame.includes_inter_frame_spaces)``). The aggregator itself is
not in the pipeline: when it writes a turn to the context depends on its turn analyzer's
timing, which these tests must not.
"""

from __future__ import annotations

import pytest
from pipecat.frames.frames import Frame, InterimTranscriptionFrame, TranscriptionFrame, VADUserStartedSpeakingFrame
from pipecat.tests.utils import SleepFrame
from pipecat.transcriptions.language import Language
from pipecat.utils.string import TextPartForConcatenation, concatenate_aggregated_text
from pipecat_funasr_realtime import FunAsrRealtimeSTTService

import funasr_realtime as fr
from funasr_realtime.server.engines.replay import ReplayEngine
from funasr_realtime.testing import MockTransport, recognizer
from tests.replay import MIXED, MIXED_FINALS, ZH, ZH_FINALS, silence

from .helpers import Clock, audio, errors, run, vad_stop

pytestmark = pytest.mark.usefixtures("no_network")


def turn(ms: int) -> list[Frame]:
    """One user turn: the VAD's start, ``ms`` of audio in 100 ms frames, the VAD's stop."""
    return [VADUserStartedSpeakingFrame(), *audio(silence(ms), chunk_ms=100), vad_stop(), SleepFrame(0.3)]


async def converse(fixture: str, language: Language | None, *turns: int) -> list[Frame]:
    """The frames the service pushed downstream in a pipeline, for ``turns`` of ``ms`` each."""
    stt = FunAsrRealtimeSTTService(transport=MockTransport(recognizer(ReplayEngine(fixture))), language=language)
    tap = Clock()
    _, up = await run([stt, tap], [f for ms in turns for f in turn(ms)])
    assert not errors(up)
    return [frame for _, frame in tap.seen]


def assembled(transcripts: list[TranscriptionFrame]) -> str:
    """The user turn Pipecat's aggregator makes of these transcripts."""
    parts = [
        TextPartForConcatenation(f.text, includes_inter_part_spaces=f.includes_inter_frame_spaces) for f in transcripts
    ]
    return concatenate_aggregated_text(parts)


def finals(frames: list[Frame]) -> list[TranscriptionFrame]:
    return [f for f in frames if isinstance(f, TranscriptionFrame)]


async def test_a_chinese_turn_is_assembled_without_spaces_and_labelled_zh() -> None:
    frames = await converse("zh", Language.ZH, ZH.duration_ms)
    transcripts = finals(frames)
    assert assembled(transcripts) == "".join(ZH_FINALS)
    assert [f.text for f in transcripts] == ZH_FINALS
    assert {(f.language, f.includes_inter_frame_spaces) for f in transcripts} == {(Language.ZH, True)}
    interims = [f for f in frames if isinstance(f, InterimTranscriptionFrame)]
    assert "我想买两张去背景" in [f.text for f in interims], "partial revisions are interims"
    assert all(f.includes_inter_frame_spaces and f.language is Language.ZH for f in interims)
    assert [f.finalized for f in transcripts] == [False, False, True], "the turn's last final answers the stop"
    assert isinstance(transcripts[0].result, fr.Sentence) and transcripts[0].result == ZH.finals[0]


async def test_mixed_text_keeps_its_spaces_and_auto_detection_reports_no_language() -> None:
    frames = await converse("zh-en", None, MIXED.duration_ms + 100)
    transcripts = finals(frames)
    assert [f.text for f in transcripts] == MIXED_FINALS
    assert [f.includes_inter_frame_spaces for f in transcripts] == [True, True, False], "the English one is spaced"
    assert {f.language for f in transcripts} == {None}, "no hint: Fun-ASR reports no language"
    # Pipecat joins the spaced English sentence to the unspaced ones with its own space.
    assert assembled(transcripts) == f"{MIXED_FINALS[0]}{MIXED_FINALS[1]} {MIXED_FINALS[2]}"


async def test_times_continue_on_the_stream_timeline_across_turns() -> None:
    transcripts = finals(await converse("zh", Language.ZH, 4000, ZH.duration_ms))
    assert [f.finalized for f in transcripts] == [True, False, False, True], "each stop is answered by its last final"
    sentences = [f.result for f in transcripts]
    assert all(isinstance(s, fr.Sentence) for s in sentences)
    assert sentences == [ZH.finals[0], *(s.shifted(4000) for s in ZH.finals)], "the second task starts at 4 s"
