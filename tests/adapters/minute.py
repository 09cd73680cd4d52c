"""A minute of speech for the adapters' long runs: the six-sentence fixture three times.

``load_speech("long").pcm * 3`` alone would join the last sentence of one copy and the first
of the next with only 0.6 s of silence between them, less than the 1.3 s sentence silence
of Fun-ASR (and of the local server), so those two would be one sentence. One second of
silence after each copy makes every join a 1.6 s pause like the fixture's own (1.5 s): the
expected transcript is then exactly the fixture's sentences, three times.
"""

from __future__ import annotations

from tests.conftest import load_speech

__all__ = ["REPEATS", "minute_of_speech"]

REPEATS = 3
_GAP_MS = 1000


def minute_of_speech(rate: int = 16000) -> tuple[bytes, list[str]]:
    """64 s of s16le mono PCM at 16 kHz (or 8 kHz) and its 18 sentences, in order."""
    long = load_speech("long", rate)
    gap = bytes(rate * 2 * _GAP_MS // 1000)
    return (long.pcm + gap) * REPEATS, list(long.texts) * REPEATS
