"""Hot-word vocabularies: the items and the rules the customization API applies to them.

A vocabulary is a list of :class:`HotWord` items bound to one ``target_model``; the service
stores it under an id (``vocabulary_id``) that a run-task names. The rules, as documented
(docs/PROTOCOL.md §2.5; not all verified against a live key):

* ``text``: at most 15 characters when it has any non-ASCII character (Chinese, Japanese),
  else at most 7 space-separated words;
* ``weight``: an integer from 1 to 5 (4 is the documented recommendation);
* ``lang``: an optional language code; with ``language_hints`` set, hot words of other
  languages are ignored by the service;
* ``prefix`` (when creating): digits and lowercase letters, fewer than 10 characters;
* at most :data:`MAX_HOT_WORDS` items (the documented bound of the older phrase lists; the
  vocabulary page gives none, so the same bound is applied).

Both the client (before sending) and the local server (on receipt) check them here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigurationError

__all__ = [
    "MAX_HOT_WORDS",
    "VOCABULARY_MODEL",
    "HotWord",
    "check_prefix",
    "content_hash",
    "hot_words",
]

#: The model the customization API is called with (the SDK's default).
VOCABULARY_MODEL = "speech-biasing"
MAX_HOT_WORDS = 500
_MAX_CJK_CHARS = 15
_MAX_ASCII_WORDS = 7
_PREFIX = re.compile(r"[0-9a-z]{1,9}")


class HotWord(BaseModel):
    """One hot word, as the customization API takes it (``{"text", "weight", "lang"}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1)
    weight: int = Field(default=4, ge=1, le=5)
    lang: str | None = None

    @field_validator("text")
    @classmethod
    def _text_fits(cls, text: str) -> str:
        text = text.strip()
        if not text:
            raise ValueError("a hot word's text is empty")
        if text.isascii():
            if len(text.split()) > _MAX_ASCII_WORDS:
                raise ValueError(f"{text!r}: at most {_MAX_ASCII_WORDS} words in an ASCII hot word")
        elif len(text) > _MAX_CJK_CHARS:
            raise ValueError(f"{text!r}: at most {_MAX_CJK_CHARS} characters in a hot word with non-ASCII text")
        return text

    def wire(self) -> dict[str, Any]:
        """The item as sent: ``lang`` only when set."""
        return self.model_dump(exclude_none=True)


def hot_words(items: Iterable[HotWord | Mapping[str, Any] | str]) -> tuple[HotWord, ...]:
    """Validated items from hot words, their dicts or plain strings (weight 4).

    Raises :class:`ConfigurationError` naming the first bad item, or for an empty or
    over-long list.
    """
    words: list[HotWord] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, HotWord):
                words.append(item)
            elif isinstance(item, str):
                words.append(HotWord(text=item))
            else:
                words.append(HotWord.model_validate(dict(item)))
        except (ValidationError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"hot word {index}: {_reason(exc)}") from None
    if not words:
        raise ConfigurationError("a vocabulary needs at least one hot word")
    if len(words) > MAX_HOT_WORDS:
        raise ConfigurationError(f"a vocabulary takes at most {MAX_HOT_WORDS} hot words, not {len(words)}")
    return tuple(words)


def check_prefix(prefix: object) -> str:
    """``prefix`` if the service accepts it (digits and lowercase letters, under 10 characters)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(f"prefix must be 1-9 digits or lowercase letters, not {prefix!r}")
    return prefix


def content_hash(target_model: str, words: Sequence[HotWord]) -> str:
    """A short stable digest of a vocabulary's content (order-insensitive), for reuse by content."""
    items = sorted(json.dumps(word.wire(), sort_keys=True, ensure_ascii=False) for word in words)
    digest = hashlib.sha256(json.dumps([target_model, items], ensure_ascii=False).encode()).hexdigest()
    return digest[:9]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(exc)
