"""Transcript text across scripts: which are written without spaces, how to join and split it.

Chinese and Japanese put no spaces between words, so sentences and partials of such text
must not be joined with one, and each of its characters counts as a word (a subtitle line
may break after any of them). Fun-ASR reports no language, so the script also gives the
best guess of it. The character ranges live here and nowhere else; the adapters and the
CLI use these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["detect_language", "is_unspaced", "join_texts", "tidy_spacing", "word_spans"]

_KANA = ((0x3040, 0x30FF), (0x31F0, 0x31FF))
_HANGUL = ((0x1100, 0x11FF), (0xAC00, 0xD7AF))
_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_CYRILLIC = ((0x0400, 0x04FF),)
# Written without spaces: Han, kana, CJK symbols and punctuation, full-width forms. Hangul
# is not: Korean puts spaces between words.
_UNSPACED = (*_KANA, *_HAN, (0x3000, 0x303F), (0xFF00, 0xFFEF))


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """The inside of a regex character class matching any character in ``ranges``."""
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


_CLASS = _char_class(_UNSPACED)
_UNSPACED_CHAR = re.compile(f"[{_CLASS}]")
# Scripts that name a language, most telling first (kana before Han: Japanese uses both);
# ASCII letters last, for English, the only Latin-script language of the Fun-ASR models.
_SCRIPTS = (
    ("ja", re.compile(f"[{_char_class(_KANA)}]")),
    ("ko", re.compile(f"[{_char_class(_HANGUL)}]")),
    ("zh", re.compile(f"[{_char_class(_HAN)}]")),
    ("ru", re.compile(f"[{_char_class(_CYRILLIC)}]")),
    ("en", re.compile("[A-Za-z]")),
)
# One unspaced character (the ideographic space U+3000 is a space, not a word), or a run of
# anything else up to a space or an unspaced character.
_WORD = re.compile(rf"(?!\s)[{_CLASS}]|[^\s{_CLASS}]+")


def is_unspaced(text: str) -> bool:
    """Whether ``text`` holds a character of a script written without spaces (Chinese, Japanese).

    Decided from the text itself, so it also holds with auto-detected language and for
    mixed text such as ``"我用Python写代码"``. For one character: whether it is such a one.
    """
    return _UNSPACED_CHAR.search(text) is not None


def join_texts(texts: Iterable[str]) -> str:
    """Join sentences: a space between spaced-script text, none next to unspaced text.

    ``["Hello there.", "How are you?"]`` → ``"Hello there. How are you?"``;
    ``["今天天气很好。", "我们去公园吧。"]`` → ``"今天天气很好。我们去公园吧。"``;
    ``["我说", "hello"]`` → ``"我说hello"``. Empty texts are skipped.
    """
    out = ""
    for text in texts:
        if not text:
            continue
        if out and not (is_unspaced(out[-1]) or is_unspaced(text[0])):
            out += " "
        out += text
    return out


def tidy_spacing(text: str) -> str:
    """A recogniser's text with the service's spacing: none inside unspaced text, one around Latin words.

    Runs of whitespace become one space and the ends are stripped; a space between two
    unspaced characters goes (``"你 好 。"`` → ``"你好。"``); a Latin letter next to a Han
    character or kana gets one (``"我用Python写"`` → ``"我用 Python 写"``), as FunASR's own
    post-processing writes mixed text.  Digits and punctuation stay attached
    (``"上午9点。"`` is unchanged).
    """
    out: list[str] = []
    for char in " ".join(text.split()):  # single spaces, so a space always sits between two characters
        if out and out[-1] == " " and is_unspaced(out[-2]) and is_unspaced(char):
            out.pop()
        elif out and _meets_latin(out[-1], char):
            out.append(" ")
        out.append(char)
    return "".join(out)


def _meets_latin(left: str, right: str) -> bool:
    """Whether a Latin letter and a written-without-spaces letter (Han, kana) touch, in either order."""
    return (left.isascii() and left.isalpha() and is_unspaced(right) and right.isalpha()) or (
        right.isascii() and right.isalpha() and is_unspaced(left) and left.isalpha()
    )


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of ``text``, in order: ``text[start:end]`` is the word.

    Words are runs between spaces, and every unspaced character (a Han character, a kana,
    CJK punctuation) is a word of its own: ``"我说 hello, world"`` gives ``我``, ``说``,
    ``hello,`` and ``world``.
    """
    return [match.span() for match in _WORD.finditer(text)]


def detect_language(text: str) -> str:
    """A best guess of the language from the script, since Fun-ASR reports none: ``""`` if unsure.

    Kana means Japanese, Hangul Korean, Han characters Chinese, Cyrillic Russian, Latin
    letters English (the only Latin-script language of the Fun-ASR models).
    """
    for language, script in _SCRIPTS:
        if script.search(text):
            return language
    return ""
