"""One stream timeline across many tasks.

The service reports times in milliseconds from the start of each *task's* audio. A stream
that rotates tasks (finalize) or reconnects (replay) needs one clock: the position of every
byte of audio in the whole stream. :class:`Timeline` counts the audio handed in and gives
each task the stream position of its first byte, so ``task ms + task offset`` is stream ms.
"""

from __future__ import annotations

__all__ = ["Timeline"]


class Timeline:
    """Converts between bytes of s16le mono audio and stream milliseconds."""

    def __init__(self, sample_rate: int) -> None:
        self._bytes_per_ms = sample_rate * 2 / 1000.0
        self.total_bytes = 0

    def advance(self, nbytes: int) -> None:
        """Record ``nbytes`` more audio handed in."""
        self.total_bytes += nbytes

    def ms(self, position_bytes: int) -> int:
        """Stream milliseconds at a byte position."""
        return round(position_bytes / self._bytes_per_ms)

    def bytes_at(self, ms: int) -> int:
        """The byte position (on a sample boundary) at a stream time."""
        return int(ms * self._bytes_per_ms) & ~1

    @property
    def now_ms(self) -> int:
        """Stream time of the end of the audio handed in so far."""
        return self.ms(self.total_bytes)
