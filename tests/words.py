"""Comparing transcripts word by word."""

from __future__ import annotations

from collections.abc import Sequence


def word_edits(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance over words: insertions, deletions and substitutions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_errors(reference: str, hypothesis: str) -> int:
    """:func:`word_edits` between two texts split at whitespace."""
    return word_edits(reference.split(), hypothesis.split())
