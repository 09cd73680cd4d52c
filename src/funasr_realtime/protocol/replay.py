"""The replay buffer: audio not yet covered by a final sentence, addressed by stream position.

After a transient failure the client replays this audio into a new task, so nothing the
user said between the last final and the failure is lost. The buffer is bounded: when it
is full the oldest audio goes, and a later :meth:`ReplayBuffer.read` that needs it reports
how many bytes were dropped instead of pretending they were sent.

Positions are byte offsets in the stream (see :class:`~funasr_realtime.protocol.timeline.Timeline`).
"""

from __future__ import annotations

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """Keeps the stream's audio from ``start`` to ``end`` (byte positions), at most ``limit`` bytes.

    When an append overflows the limit, the oldest audio is dropped down to three quarters
    of it (dropping in large steps keeps appends cheap: no copy per frame).
    """

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 2:
            raise ValueError("limit_bytes must be at least 2")
        self._limit = limit_bytes & ~1
        self._data = bytearray()
        self.start = 0

    @property
    def end(self) -> int:
        """Stream position just after the newest byte held."""
        return self.start + len(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def append(self, audio: bytes) -> None:
        """Add audio at :attr:`end`, dropping the oldest if the limit is exceeded."""
        self._data += audio
        if len(self._data) > self._limit:
            self._discard(len(self._data) - (self._limit * 3 // 4 & ~1))

    def release(self, position: int) -> None:
        """Audio before ``position`` is covered (by a final or a finished task): forget it."""
        if position > self.start:
            self._discard(min(position, self.end) - self.start)

    def read(self, start: int, end: int) -> tuple[bytes, int]:
        """Audio from ``start`` to ``end``, and how many of those bytes are no longer held."""
        end = min(end, self.end)
        dropped = max(0, min(self.start, end) - start)
        first = max(start, self.start)
        if first >= end:
            return b"", dropped
        return bytes(self._data[first - self.start : end - self.start]), dropped

    def _discard(self, count: int) -> None:
        count &= ~1  # keep whole 16-bit samples
        del self._data[:count]
        self.start += count
