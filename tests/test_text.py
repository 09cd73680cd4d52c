"""Transcript text across scripts: what is written without spaces, joins, word splits, language."""

from __future__ import annotations

import pytest

import funasr_realtime as fr
from funasr_realtime.text import detect_language, is_unspaced, join_texts, word_spans


@pytest.mark.parametrize(
    ("text", "unspaced"),
    [
        ("你好", True),
        ("こんにちは", True),  # hiragana
        ("カタカナ", True),
        ("ㇰㇱ", True),  # katakana phonetic extensions
        ("。", True),  # CJK punctuation
        ("「", True),
        ("\uff21\uff22\uff23", True),  # full-width forms
        ("我用Python写代码", True),  # mixed: decided from the text
        ("hello world", False),
        ("안녕하세요", False),  # Korean puts spaces between words
        ("Привет", False),
        ("", False),
        ("123, 456.", False),
    ],
)
def test_is_unspaced(text: str, unspaced: bool) -> None:
    assert is_unspaced(text) is unspaced


@pytest.mark.parametrize(
    ("texts", "joined"),
    [
        (["今天天气很好。", "我们去公园吧。"], "今天天气很好。我们去公园吧。"),
        (["Hello there.", "", "How are you?"], "Hello there. How are you?"),
        (["我说", "hello"], "我说hello"),
        (["hello", "我说"], "hello我说"),
        (["はい。", "OK"], "はい。OK"),
        (["안녕하세요.", "반갑습니다."], "안녕하세요. 반갑습니다."),
        ([], ""),
        (["", ""], ""),
        (["one"], "one"),
    ],
)
def test_join_texts(texts: list[str], joined: str) -> None:
    assert join_texts(texts) == joined
    assert join_texts(iter(texts)) == joined, "any iterable"


def words(text: str) -> list[str]:
    return [text[start:end] for start, end in word_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello, world", ["hello,", "world"]),
        ("  spaced   out  ", ["spaced", "out"]),
        ("你好世界", ["你", "好", "世", "界"]),
        ("我说 hello, world", ["我", "说", "hello,", "world"]),
        ("我用Python写代码。", ["我", "用", "Python", "写", "代", "码", "。"]),
        ("全角\u3000空格", ["全", "角", "空", "格"]),  # the ideographic space is a space
        ("안녕하세요 세계", ["안녕하세요", "세계"]),
        ("", []),
    ],
)
def test_word_spans(text: str, expected: list[str]) -> None:
    assert words(text) == expected
    spans = word_spans(text)
    assert spans == sorted(spans) and all(a < b for a, b in spans), "ordered, non-empty"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("你好。", "zh"),
        ("こんにちは", "ja"),
        ("漢字とかな", "ja"),  # kana anywhere means Japanese
        ("안녕하세요", "ko"),
        ("hello", "en"),
        ("Привет", "ru"),
        ("123", ""),
        ("", ""),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_the_text_functions_are_public_api() -> None:
    for name in ("detect_language", "is_unspaced", "join_texts", "word_spans"):
        assert name in fr.__all__
        assert getattr(fr, name) is getattr(fr.text, name)
