"""The replay engine: fixtures checked as they load, results at their audio time, the task's flush."""

# ruff: noqa: RUF001  # full-width punctuation is what Chinese text holds, on purpose

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import funasr_realtime as fr
from funasr_realtime.cli.main import main
from funasr_realtime.protocol import ConfigurationError, Sentence
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.engines import ENGINE_NAMES, create_engine
from funasr_realtime.server.engines.replay import ReplayEngine
from funasr_realtime.server.replay import BUNDLED, FORMAT, ReplayFixture, ReplayTranscriber, load_fixture
from funasr_realtime.server.task import TaskRecognizer, TaskResult

ZH = load_fixture("zh")
MS = 32  # bytes of 16 kHz s16le mono per millisecond


def silence(ms: int, bytes_per_ms: int = MS) -> bytes:
    return bytes(ms * bytes_per_ms)


def pieces(total_ms: int, piece_ms: int, bytes_per_ms: int = MS) -> Iterator[bytes]:
    for start in range(0, total_ms, piece_ms):
        yield silence(min(piece_ms, total_ms - start), bytes_per_ms)


def texts(sentences: list[Sentence]) -> list[tuple[str, bool]]:
    return [(s.text, s.is_final) for s in sentences]


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_fixtures_are_consistent_chinese_transcripts(name: str) -> None:
    fixture = load_fixture(name)
    assert fixture.language == "zh" and fixture.description
    assert [s.sentence_id for s in fixture.finals] == [1, 2, 3]
    for result in fixture.results:
        sentence = result.sentence
        if sentence.heartbeat:
            continue
        # Words and their punctuation spell the text; only the spaces around Latin words are extra.
        spelled = "".join(w.text + w.punctuation for w in sentence.words)
        assert sentence.text.replace(" ", "") == spelled.replace(" ", ""), sentence.text
    assert any(r.sentence.heartbeat for r in load_fixture("zh").results)


def test_a_fixture_is_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(ZH.model_dump_json(), encoding="utf-8")
    assert load_fixture(path) == ZH
    assert load_fixture(str(path)) == ZH


def test_due_times_default_to_the_audio_a_result_describes() -> None:
    word = {"begin_time": 100, "end_time": 400, "text": "好", "punctuation": "。"}
    partial = {"sentence": {"begin_time": 100, "end_time": None, "text": "好", "words": [word], "sentence_end": False}}
    final = {
        "sentence": {"begin_time": 100, "end_time": 500, "text": "好。", "sentence_end": True},
        "usage": {"duration": 1},
    }
    heartbeat = {"sentence": {"begin_time": 2600, "heartbeat": True, "sentence_end": False}}
    fixture = ReplayFixture.model_validate({"format": FORMAT, "results": [partial, final, heartbeat]})
    assert [r.due_ms for r in fixture.results] == [400, 500, 2600]
    assert fixture.duration_ms == 2600


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "fixture.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def result(at_ms: int, *, final: bool, usage: int | None = None, end_time: int | None = None) -> dict[str, Any]:
    sentence = {"begin_time": 0, "end_time": end_time, "text": "好", "sentence_end": final}
    return {"at_ms": at_ms, "sentence": sentence, "usage": None if usage is None else {"duration": usage}}


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ([result(500, final=True, end_time=400)], "a final result needs end_time and usage"),
        ([result(500, final=False, usage=1)], "only a final result carries usage"),
        ([result(300, final=True, end_time=400, usage=1)], "due at 300 ms, before the audio it describes ends"),
        ([result(500, final=False), result(400, final=False)], "results[1] is due at 400 ms"),
        ([], "results: Tuple should have at least 1 item"),
    ],
)
def test_a_bad_fixture_is_one_line_naming_it(tmp_path: Path, results: list[Any], message: str) -> None:
    path = write(tmp_path, {"format": FORMAT, "results": results})
    with pytest.raises(ConfigurationError) as caught:
        load_fixture(path)
    assert str(caught.value).startswith(f"replay fixture {path}: ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "Invalid JSON"),
        ({"format": "other/1", "results": []}, "format: Input should be 'funasr-realtime-replay/1' (and 1 more)"),
        ({"format": FORMAT, "results": [result(1, final=False)], "speed": 2}, "speed: Extra inputs are not permitted"),
    ],
)
def test_a_file_that_is_no_fixture_is_refused(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"replay fixture .*: ") as caught:
        load_fixture(write(tmp_path, document))
    assert message in str(caught.value)


def test_a_missing_fixture_names_the_bundled_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.json: No such file or directory \(bundled: zh, zh-en\)"):
        load_fixture(tmp_path / "missing.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigurationError, match=r"binary\.json: 'utf-8' codec can't decode"):
        load_fixture(tmp_path / "binary.json")


# --------------------------------------------------------------------------- the transcriber


def replay(fixture: ReplayFixture, frames: Iterator[bytes]) -> list[tuple[int, Sentence]]:
    """Every result with the audio time at which it came."""
    transcriber = ReplayTranscriber(fixture)
    out: list[tuple[int, Sentence]] = []
    for frame in frames:
        out += [(transcriber.audio_ms, r.sentence) for r in transcriber.feed(frame)]
    out += [(transcriber.audio_ms, r.sentence) for r in transcriber.finish()]
    transcriber.close()
    return out


def test_each_result_comes_once_its_audio_time_is_received() -> None:
    came = replay(ZH, pieces(ZH.duration_ms, 10))
    assert [sentence for _, sentence in came] == [r.sentence for r in ZH.results]
    assert [at for at, _ in came] == [r.due_ms for r in ZH.results]  # every due time is a multiple of 10 ms


@pytest.mark.parametrize("piece_ms", [7, 100, 1000, 20_000])
def test_the_results_do_not_depend_on_the_send_pace(piece_ms: int) -> None:
    came = replay(ZH, pieces(ZH.duration_ms + 500, piece_ms))
    assert [sentence for _, sentence in came] == [r.sentence for r in ZH.results]
    assert all(at >= r.due_ms for (at, _), r in zip(came, ZH.results, strict=True))


def test_finish_flushes_the_sentence_in_progress_cut_at_the_end_of_the_audio() -> None:
    came = [sentence for _, sentence in replay(ZH, pieces(2000, 100))]
    assert texts(came) == [
        ("今天", False),
        ("今天天气很", False),
        ("今天天气很好，", False),
        ("今天天气很好，我们去", False),
        ("今天天气很好，我们去公园散步吧。", True),
    ]
    flushed = came[-1]
    assert (flushed.begin_time, flushed.end_time) == (240, 2000)
    assert [(w.text, w.begin_time, w.end_time) for w in flushed.words[-3:]] == [
        ("公园", 1920, 2000),
        ("散步", 2000, 2000),
        ("吧", 2000, 2000),
    ]


@pytest.mark.parametrize("audio_ms", [0, 500, 4000])
def test_finish_sends_nothing_between_sentences(audio_ms: int) -> None:
    came = replay(ZH, pieces(audio_ms, 100))
    assert texts([s for _, s in came]) == texts([r.sentence for r in ZH.results if r.due_ms <= audio_ms])


def test_a_finished_transcriber_takes_no_audio() -> None:
    transcriber = ReplayTranscriber(ZH)
    assert transcriber.finish() == [] and transcriber.finish() == []
    with pytest.raises(RuntimeError, match="after finish"):
        transcriber.feed(silence(100))
    transcriber.close()
    transcriber.close()


# --------------------------------------------------------------------------- in a task


def task(engine: ReplayEngine, model: str = "fun-asr-realtime", **parameters: Any) -> TaskRecognizer:
    parameters = {"sample_rate": 16000, "format": "pcm", **parameters}
    return TaskRecognizer.create(model, parameters, engine, heartbeat_interval_ms=2000, max_audio_s=60)


def run(session: TaskRecognizer, frames: Iterator[bytes]) -> list[TaskResult]:
    try:
        results = [r for frame in frames for r in session.feed(frame)]
        return results + session.finish()
    finally:
        session.close()


def test_a_task_sends_the_recorded_results_unchanged() -> None:
    results = run(task(ReplayEngine()), pieces(ZH.duration_ms, 100))
    assert [(r.sentence, r.usage) for r in results] == [(r.sentence, r.usage) for r in ZH.results]
    assert all(r.debug is None for r in results)
    first = results[5].sentence
    assert (first.text, first.words[3].text, first.words[3].punctuation) == (
        "今天天气很好，我们去公园散步吧。",
        "好",
        "，",
    )


def test_8k_audio_is_timed_after_resampling() -> None:
    results = run(
        task(ReplayEngine("zh"), "fun-asr-flash-8k-realtime", sample_rate=8000), pieces(4000, 100, bytes_per_ms=16)
    )
    assert [r.sentence.text for r in results if r.sentence.is_final] == ["今天天气很好，我们去公园散步吧。"]


def test_the_server_adds_its_heartbeats_only_where_the_recording_is_silent() -> None:
    results = run(task(ReplayEngine(), heartbeat=True), pieces(ZH.duration_ms + 4000, 100))
    heartbeats = [r.sentence.begin_time for r in results if r.sentence.heartbeat]
    assert heartbeats == [5400, 12_700, 14_700], "the recorded one, then the server's own after the recording ends"


def test_finals_of_a_task_with_context_carry_its_report() -> None:
    context = [{"role": "user", "content": [{"type": "input_text", "text": "火车票"}]}]
    session = TaskRecognizer.create(
        "fun-asr-realtime",
        {"sample_rate": 16000, "format": "pcm"},
        ReplayEngine(),
        heartbeat_interval_ms=2000,
        max_audio_s=60,
        input={"context": context},
    )
    results = run(session, pieces(4000, 100))
    assert [r.debug is not None for r in results] == [False] * 5 + [True]


# --------------------------------------------------------------------------- engine and serve


def test_the_engine_is_registered_and_plays_whole_tasks() -> None:
    assert "replay" in ENGINE_NAMES
    engine = create_engine("replay")
    assert isinstance(engine, ReplayEngine) and engine.fixture == ZH and not engine.synthetic
    mixed = create_engine("replay", replay="zh-en")
    assert isinstance(mixed, ReplayEngine) and mixed.fixture == load_fixture("zh-en")
    with pytest.raises(RuntimeError, match="no utterances"):
        engine.new_utterance()


def test_a_fixture_needs_the_replay_engine() -> None:
    with pytest.raises(ConfigurationError, match="a replay fixture needs --engine replay, not 'synthetic'"):
        ServerConfig(engine="synthetic", replay="zh")


def test_serve_with_a_bad_fixture_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--engine", "replay", "--replay", str(tmp_path / "none.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "replay fixture" in err and "none.json: No such file" in err


def test_a_recording_that_stops_mid_sentence_flushes_nothing() -> None:
    partial = {"at_ms": 300, "sentence": {"begin_time": 0, "text": "好", "sentence_end": False}}
    fixture = ReplayFixture.model_validate({"format": FORMAT, "results": [partial]})
    assert texts([s for _, s in replay(fixture, pieces(1000, 100))]) == [("好", False)]


def test_serve_replays_the_fixture_it_is_given() -> None:
    command = [sys.executable, "-m", "funasr_realtime.cli", "serve", "--engine", "replay", "--replay", "zh-en"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().removeprefix("listening on ").strip()
        assert url.startswith("ws://127.0.0.1:")
        assert asyncio.run(first_final(url)) == "下午三点我们开个 meeting，讨论一下 Q3 的 roadmap。"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def first_final(url: str) -> str:
    async with fr.Client(url=url).stream() as stream:
        for frame in pieces(4600, 100):
            await stream.send_audio(frame)
        await stream.finish()
        finals = [e.sentence.text async for e in stream if isinstance(e, fr.SentenceEvent) and e.is_final]
    return finals[0]
