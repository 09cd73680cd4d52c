"""Hot words for a dictionary-based engine: which words to add, how they sound, and a bounded cache.

* :func:`dictionary_words` turns a vocabulary's items into dictionary entries: each ASCII word
  of each item, lower-cased (the en-us dictionary's spelling), mapped to the item's own spelling
  (so ``DashScope`` is recognised as ``dashscope`` and reported as ``DashScope``) and its weight.
  Items with non-ASCII text cannot be spoken by the English model and are skipped.
* :func:`compose_pronunciation` gives a word missing from the dictionary a pronunciation built
  from words that are in it: the fewest dictionary words (of two letters or more) whose
  spellings make up the word (``pipecat`` = ``pipe`` + ``cat``), and letter names for an
  all-capitals piece or whatever no word covers (``ASR`` = ``a`` ``s`` ``r``).  It is a guess,
  not a grapheme-to-phoneme model: words spelt unlike their parts (``zorblax``) may still be
  missed.
* :class:`VocabularyCache` keeps at most ``limit`` per-vocabulary resources alive, keyed by the
  vocabulary's content, shared by the tasks that use the same content, and frees the least
  recently used one that no task holds when another vocabulary needs the slot.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ...protocol.vocabulary import HotWord

__all__ = ["DictionaryWord", "VocabularyCache", "compose_pronunciation", "dictionary_words", "vocabulary_key"]

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_PIECE = re.compile(r"[A-Za-z']+")
_MIN_PART = 2  # one-letter words ("a", "i") would spell almost anything


@dataclass(frozen=True, slots=True)
class DictionaryWord:
    key: str  # the dictionary's spelling: lower case, "-" between pieces ("fun-asr")
    spelling: str  # as the vocabulary wrote it ("Fun-ASR")
    weight: int  # 1-5, the highest of the items it appears in


def vocabulary_key(words: Iterable[HotWord]) -> tuple[tuple[str, int], ...]:
    """The content of a vocabulary, as a cache key: order and duplicates do not matter."""
    return tuple(sorted({(word.text, word.weight) for word in words}))


def dictionary_words(words: Iterable[HotWord]) -> list[DictionaryWord]:
    """The dictionary entries a vocabulary asks for (see the module docstring), in first-seen order."""
    found: dict[str, DictionaryWord] = {}
    for item in words:
        if not item.text.isascii():
            continue
        for token in item.text.split():
            pieces = _PIECE.findall(token)
            if not pieces:
                continue
            key = "-".join(piece.lower() for piece in pieces)
            spelling = token.strip('.,;:!?"()')
            weight = max(item.weight, found[key].weight) if key in found else item.weight
            found[key] = DictionaryWord(key, found[key].spelling if key in found else spelling, weight)
    return list(found.values())


def compose_pronunciation(word: str, lookup: Callable[[str], str | None]) -> str | None:
    """Phones for ``word`` from dictionary words and letter names; None if nothing fits.

    ``word`` is a :attr:`DictionaryWord.key`; ``lookup`` returns a dictionary word's phones
    (or None).  Each ``-``-separated piece is composed on its own; a piece that was all capitals
    in the vocabulary should be passed spelt out (see :func:`spoken_pieces`).
    """
    phones: list[str] = []
    for piece in word.split("-"):
        known = lookup(f"{piece}.") if len(piece) == 1 else lookup(piece)
        part = known if known else _compose(piece, lookup)
        if part is None:
            return None
        phones.append(part)
    return " ".join(phones)


def spoken_pieces(entry: DictionaryWord) -> str:
    """``entry.key`` with all-capital pieces of its spelling split into letters (``fun-a-s-r``)."""
    pieces = _PIECE.findall(entry.spelling)
    out: list[str] = []
    for piece in pieces:
        if len(piece) > 1 and piece.isupper():
            out.extend(piece.lower())
        else:
            out.append(piece.lower())
    return "-".join(out)


def _compose(piece: str, lookup: Callable[[str], str | None]) -> str | None:
    """The fewest parts (dictionary words, else single letters' names) that spell ``piece``."""
    n = len(piece)
    best: list[tuple[int, list[str]] | None] = [None] * (n + 1)
    best[0] = (0, [])
    for start in range(n):
        here = best[start]
        if here is None:
            continue
        for end in range(start + 1, n + 1):
            part = piece[start:end]
            phones = lookup(part) if len(part) >= _MIN_PART else None
            cost = 1
            if phones is None and len(part) == 1:
                # A letter's name ("a." is EY, where "a" is AH): a last resort.
                phones, cost = lookup(f"{part}.") or lookup(part), 3
            if phones is None:
                continue
            candidate = (here[0] + cost, [*here[1], phones])
            current = best[end]
            if current is None or candidate[0] < current[0]:
                best[end] = candidate
    result = best[n]
    return None if result is None else " ".join(result[1])


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class VocabularyCache(Generic[K, V]):
    """At most ``limit`` values alive, one per key, counted by the tasks holding them.

    :meth:`acquire` returns the key's value (built by ``build`` on a miss, outside no lock:
    building must be cheap, the heavy work is the value's own, lazy) or None when all ``limit``
    values are held by tasks.  :meth:`release` gives a task's hold back; unheld values stay
    cached until their slot is needed, then ``free`` is called on them.  Thread-safe.
    """

    def __init__(self, limit: int, build: Callable[[K], V], free: Callable[[V], None]) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self._limit = limit
        self._build = build
        self._free = free
        self._lock = threading.Lock()
        self._values: OrderedDict[K, V] = OrderedDict()  # least recently used first
        self._holds: dict[K, int] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def acquire(self, key: K) -> V | None:
        evicted: V | None = None
        with self._lock:
            value = self._values.get(key)
            if value is None:
                if len(self._values) >= self._limit:
                    unheld = next((k for k in self._values if not self._holds.get(k)), None)
                    if unheld is None:
                        return None
                    evicted = self._values.pop(unheld)
                value = self._values[key] = self._build(key)
            self._values.move_to_end(key)
            self._holds[key] = self._holds.get(key, 0) + 1
        if evicted is not None:
            self._free(evicted)
        return value

    def release(self, key: K) -> None:
        with self._lock:
            holds = self._holds.get(key, 0) - 1
            if holds > 0:
                self._holds[key] = holds
            else:
                self._holds.pop(key, None)

    def clear(self) -> None:
        """Free every value no task holds."""
        with self._lock:
            unheld = [k for k in self._values if not self._holds.get(k)]
            freed = [self._values.pop(k) for k in unheld]
        for value in freed:
            self._free(value)

    def total(self, measure: Callable[[V], int]) -> int:
        """The sum of ``measure`` over the values alive."""
        with self._lock:
            values = list(self._values.values())
        return sum(measure(value) for value in values)
