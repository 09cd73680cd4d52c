"""Transcript writers and the terminal views."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from funasr_realtime.cli.display import PlainView, QuietView, RichView, make_view
from funasr_realtime.cli.output import Transcript, render
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


def test_the_rich_view_shows_progress_and_the_partial() -> None:
    screen = io.StringIO()
    view = RichView(Console(file=screen, force_terminal=True, width=120))
    view.begin("talk.wav", 1000)
    view.advance(500)
    view.partial("please book a")
    view._progress.refresh()
    shown = screen.getvalue()
    view.final()
    view.end()
    view.close()
    assert "talk.wav" in shown and "please book a" in shown and "50%" in shown


def test_the_plain_view_rewrites_one_line() -> None:
    screen = io.StringIO()
    view = PlainView(screen)
    view.partial("please")
    view.final()
    assert screen.getvalue() == "\r\033[K  … please\r\033[K"


def test_not_a_terminal_means_quiet() -> None:
    assert type(make_view(False)) is QuietView
