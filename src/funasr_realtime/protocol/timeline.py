"""One stream timeline across many tasks.

The service reports times in milliseconds from the start of each *task's* audio. A stream
that rotates tasks (finalize) or reconnects (replay) needs one clock: the position of every
byte of audio in the whole stream. :class:`Timeline` converts between those byte positions
and milliseconds, so a task's offset is the stream time of its first byte and
``task ms + task offset`` is stream ms. (The stream's replay buffer holds the positions; a
resumed stream's timeline starts at the offset of the audio it took over.)
"""

from __future__ import annotations

__all__ = ["Timeline"]


class Timeline:
    """Converts between bytes of s16le mono audio and stream milliseconds."""

    def __init__(self, sample_rate: int) -> None:
        self._bytes_per_ms = sample_rate * 2 / 1000.0

    def ms(self, position_bytes: int) -> int:
        """Stream milliseconds at a byte position."""
        return round(position_bytes / self._bytes_per_ms)

    def bytes_at(self, ms: int) -> int:
        """The byte position (on a sample boundary) at a stream time."""
        return int(ms * self._bytes_per_ms) & ~1
