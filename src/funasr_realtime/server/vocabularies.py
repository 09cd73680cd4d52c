"""The local server's hot-word vocabularies, kept in memory as the service keeps them.

:class:`VocabularyStore` is what the customization routes (:mod:`.rest`) act on and what a
run-task's ``vocabulary_id`` is looked up in. Ids look like the service's
(``vocab-PREFIX-<32 hex>``); times are the service's ``gmt_create``/``gmt_modified`` strings.
Every stored vocabulary is deployed at once (status ``OK``). Nothing survives a restart.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..protocol.vocabulary import HotWord

__all__ = ["StoredVocabulary", "VocabularyStore"]


@dataclass(slots=True)
class StoredVocabulary:
    vocabulary_id: str
    target_model: str
    words: tuple[HotWord, ...]
    created: float
    modified: float

    def summary(self) -> dict[str, Any]:
        """An entry of ``list_vocabulary``."""
        return {
            "vocabulary_id": self.vocabulary_id,
            "gmt_create": _gmt(self.created),
            "gmt_modified": _gmt(self.modified),
            "status": "OK",
        }

    def details(self) -> dict[str, Any]:
        """The output of ``query_vocabulary``."""
        return {
            "gmt_create": _gmt(self.created),
            "gmt_modified": _gmt(self.modified),
            "status": "OK",
            "target_model": self.target_model,
            "vocabulary": [word.wire() for word in self.words],
        }


class VocabularyStore:
    """Vocabularies by id, oldest first. Thread-safe: engines read it from worker threads."""

    def __init__(self) -> None:
        self._vocabularies: dict[str, StoredVocabulary] = {}
        self._lock = threading.Lock()

    def create(self, target_model: str, prefix: str, words: tuple[HotWord, ...]) -> StoredVocabulary:
        now = time.time()
        vocabulary = StoredVocabulary(f"vocab-{prefix}-{secrets.token_hex(16)}", target_model, words, now, now)
        with self._lock:
            self._vocabularies[vocabulary.vocabulary_id] = vocabulary
        return vocabulary

    def get(self, vocabulary_id: str) -> StoredVocabulary | None:
        with self._lock:
            return self._vocabularies.get(vocabulary_id)

    def page(self, prefix: str | None, page_index: int, page_size: int) -> list[StoredVocabulary]:
        """One page of the vocabularies whose id has ``prefix`` (all when None), oldest first."""
        with self._lock:
            matching = [v for v in self._vocabularies.values() if prefix is None or _prefix(v) == prefix]
        start = page_index * page_size
        return matching[start : start + page_size]

    def update(self, vocabulary_id: str, words: tuple[HotWord, ...]) -> StoredVocabulary | None:
        with self._lock:
            vocabulary = self._vocabularies.get(vocabulary_id)
            if vocabulary is not None:
                vocabulary.words, vocabulary.modified = words, time.time()
            return vocabulary

    def delete(self, vocabulary_id: str) -> bool:
        with self._lock:
            return self._vocabularies.pop(vocabulary_id, None) is not None

    def __len__(self) -> int:
        return len(self._vocabularies)


def _prefix(vocabulary: StoredVocabulary) -> str:
    return vocabulary.vocabulary_id.split("-")[1]


def _gmt(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
