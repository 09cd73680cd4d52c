"""Transcript writers and the terminal views."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from rich.console import Console

from funasr_realtime.cli.display import PlainView, QuietView, RichView, make_view
from funasr_realtime.cli.output import SubtitleLimits, Transcript, cues, json_line, render
from funasr_realtime.protocol import Sentence, Word

SENTENCES = [
    Sentence(
        begin_time=320,
        end_time=2240,
        text="please book a table",
        words=(Word(begin_time=320, end_time=610, text="please"),),
        sentence_end=True,
    ),
    Sentence(begin_time=3_723_004, end_time=3_725_500, text="an hour later", sentence_end=True),
    Sentence(begin_time=3_726_000, end_time=3_726_100, text="", sentence_end=True),
]
TRANSCRIPT = Transcript(Path("talk.wav"), SENTENCES, duration_ms=3_730_000, billed_seconds=3730, task_ids=["t1"])


def test_txt() -> None:
    assert render("txt", TRANSCRIPT) == "please book a table\nan hour later\n"


def test_srt() -> None:
    assert render("srt", TRANSCRIPT) == (
        "1\n00:00:00,320 --> 00:00:02,240\nplease book a table\n\n2\n01:02:03,004 --> 01:02:05,500\nan hour later\n"
    )


def test_vtt() -> None:
    assert render("vtt", TRANSCRIPT) == (
        "WEBVTT\n\n00:00:00.320 --> 00:00:02.240\nplease book a table\n\n01:02:03.004 --> 01:02:05.500\nan hour later\n"
    )


def test_json() -> None:
    document = json.loads(render("json", TRANSCRIPT))
    assert document["text"] == "please book a table an hour later"
    assert document["sentences"][0]["words"] == [
        {"begin_time": 320, "end_time": 610, "text": "please", "punctuation": ""}
    ]
    assert (document["file"], document["billed_seconds"], document["task_ids"]) == ("talk.wav", 3730, ["t1"])


def test_empty_transcripts_are_valid_documents() -> None:
    empty = Transcript(Path("silence.wav"))
    assert render("txt", empty) == ""
    assert render("srt", empty) == ""
    assert render("vtt", empty) == "WEBVTT\n"
    assert json.loads(render("json", empty))["sentences"] == []


def test_the_rich_view_follows_recognition_not_upload() -> None:
    screen = io.StringIO()
    view = RichView(Console(file=screen, force_terminal=True, width=120))
    view.begin("talk.wav", 1000)
    view.sent(1000)  # all of it uploaded...
    view.recognized(250)  # ...a quarter recognized
    view.partial("please book a")
    view._progress.refresh()
    shown = screen.getvalue()
    view.final()
    view.end()
    view.close()
    assert "talk.wav" in shown and "please book a" in shown
    assert "25%" in shown and "100%" not in shown


def test_an_unknown_duration_grows_with_the_audio_sent() -> None:
    screen = io.StringIO()
    view = PlainView(screen)
    view.begin("talk.m4a", None)
    view.sent(4000)
    view.recognized(1000)
    view.partial("please")
    assert screen.getvalue() == "\r\033[K 25%   … please"


def test_the_plain_view_rewrites_one_line() -> None:
    screen = io.StringIO()
    view = PlainView(screen)
    view.begin("talk.wav", 2000)
    view.recognized(1000)
    view.partial("please")
    view.final()
    assert screen.getvalue() == "\r\033[K 50%   … please\r\033[K"


def test_not_a_terminal_means_quiet() -> None:
    assert type(make_view(False)) is QuietView


# --------------------------------------------------------------------------- subtitle cues (issue 13)

LONG_TEXT = (
    "the quick brown fox jumps over the lazy dog, and then it runs far away into the deep dark forest "
    "where no one finds it."
)


def long_sentence(*, with_words: bool) -> Sentence:
    """119 characters over 9.2 s, like the sentences of a real recording (up to 125 characters)."""
    tokens = LONG_TEXT.replace(",", "").replace(".", "").split()
    step = 9200 // len(tokens)
    words = tuple(Word(begin_time=i * step, end_time=i * step + step - 40, text=t) for i, t in enumerate(tokens))
    assert len(LONG_TEXT) > 2 * 42, "more than one cue can hold"
    return Sentence(begin_time=0, end_time=9200, text=LONG_TEXT, words=words if with_words else (), sentence_end=True)


@pytest.mark.parametrize("with_words", [True, False], ids=["word-times", "sentence-times"])
def test_a_long_sentence_is_cut_to_subtitle_limits(with_words: bool) -> None:
    sentence = long_sentence(with_words=with_words)
    result = cues(Transcript(Path("talk.wav"), [sentence]))
    assert len(result) >= 2
    assert all(len(cue.lines) <= 2 and all(len(line) <= 42 for line in cue.lines) for cue in result)
    assert all(cue.end - cue.begin <= 7000 for cue in result)
    assert " ".join(line for cue in result for line in cue.lines) == LONG_TEXT, "every word, once, in order"
    assert result[0].begin == 0 and result[-1].end <= 9200
    assert all(a.end <= b.begin for a, b in itertools.pairwise(result)), "cues do not overlap"
    if with_words:  # cut on the words' own times
        starts = {w.begin_time for w in sentence.words}
        assert all(cue.begin in starts for cue in result)


def test_the_limits_are_options() -> None:
    sentence = long_sentence(with_words=True)
    tight = cues(Transcript(Path("talk.wav"), [sentence]), SubtitleLimits(line_chars=20, lines=1, cue_ms=60_000))
    assert all(len(cue.lines) == 1 and len(cue.lines[0]) <= 20 for cue in tight)
    short = cues(Transcript(Path("talk.wav"), [sentence]), SubtitleLimits(line_chars=200, lines=1, cue_ms=2000))
    assert all(cue.end - cue.begin <= 2000 for cue in short) and len(short) >= 5


def test_two_lines_are_balanced_and_cues_never_span_sentences() -> None:
    first = Sentence(
        begin_time=0, end_time=3000, text="please book a table for two at seven tonight", sentence_end=True
    )
    second = Sentence(begin_time=3100, end_time=3600, text="thanks", sentence_end=True)
    result = cues(Transcript(Path("talk.wav"), [first, second]), SubtitleLimits(line_chars=30))
    assert [cue.lines for cue in result] == [("please book a table for", "two at seven tonight"), ("thanks",)]


def test_words_that_do_not_cover_the_text_fall_back_to_the_sentence_times() -> None:
    [cue] = cues(TRANSCRIPT)[:1]  # SENTENCES[0] has one word for four
    assert (cue.begin, cue.end, cue.lines) == (320, 2240, ("please book a table",))


def test_cjk_text_is_cut_between_characters() -> None:
    text = "你好世界今天天气很好我们去公园散步吧然后再去吃饭看电影回家睡觉明天再见"
    sentence = Sentence(begin_time=0, end_time=6000, text=text, sentence_end=True)
    result = cues(Transcript(Path("talk.wav"), [sentence]), SubtitleLimits(line_chars=16, lines=1))
    assert "".join(cue.lines[0] for cue in result) == text
    assert all(len(cue.lines[0]) <= 16 for cue in result)


def test_several_files_as_json_lines() -> None:
    lines = [json_line(TRANSCRIPT), json_line(Transcript(Path("silence.wav")))]
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert [json.loads(line)["file"] for line in lines] == ["talk.wav", "silence.wav"]
