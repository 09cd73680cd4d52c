"""The CLI's transcript text uses the core's text module: joins and word splits across scripts."""

from __future__ import annotations

from pathlib import Path

from funasr_realtime.cli.output import SubtitleLimits, Transcript, cues, render
from funasr_realtime.protocol import Sentence


def final(text: str, begin: int = 0, end: int = 3000) -> Sentence:
    return Sentence(begin_time=begin, end_time=end, text=text, sentence_end=True)


def test_chinese_sentences_join_without_spaces_and_english_with_them() -> None:
    chinese = Transcript(Path("zh.wav"), [final("今天天气很好。"), final("我们去公园吧。", 3000, 6000)])
    assert chinese.text == "今天天气很好。我们去公园吧。"
    english = Transcript(Path("en.wav"), [final("Hello there."), final(""), final("How are you?")])
    assert english.text == "Hello there. How are you?"
    assert render("txt", chinese) == "今天天气很好。\n我们去公园吧。\n", "one sentence a line, as before"


def test_korean_text_without_word_times_is_cut_between_its_words() -> None:
    text = "오늘 날씨가 정말 좋네요 우리 공원에 갈까요"
    result = cues(Transcript(Path("ko.wav"), [final(text)]), SubtitleLimits(line_chars=12, lines=1))
    lines = [cue.lines[0] for cue in result]
    assert " ".join(lines) == text
    assert all(word in text.split() for line in lines for word in line.split()), "no word is cut"
