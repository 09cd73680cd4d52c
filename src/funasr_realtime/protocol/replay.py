"""The replay buffer: audio not yet covered by a final sentence, addressed by stream position.

After a transient failure the stream replays this audio into a new task, so nothing the
user said between the last final and the failure is lost; a stream that failed for good
hands it to the next stream instead (:meth:`~.stream.StreamCore.resume_point`). The
:class:`~.stream.StreamCore` owns the buffer and decides what to release. The buffer is bounded: when it
is full the oldest audio goes, and a later :meth:`ReplayBuffer.read` that needs it reports
how many bytes were dropped instead of pretending they were sent.

Positions are byte offsets in the stream (see :class:`~funasr_realtime.protocol.timeline.Timeline`).
"""

from __future__ import annotations

from collections import deque

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """Keeps the stream's audio from ``start`` to ``end`` (byte positions), at most ``limit`` bytes.

    When an append overflows the limit, the oldest audio is dropped down to three quarters
    of it (dropping in large steps keeps appends cheap). Releases and drops keep whole
    16-bit samples.
    """

    # The audio is kept as the chunks it was handed, not one growing bytearray: appending
    # is then O(1) with no copy. A bytearray grown a frame at a time is reallocated about
    # every eighth append, and with many streams' buffers interleaved in memory the
    # allocator must usually move it, copying the whole buffer (bench/ANALYSIS.md, 1.1).

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 2:
            raise ValueError("limit_bytes must be at least 2")
        self._limit = limit_bytes & ~1
        self._chunks: deque[bytes] = deque()
        self._skip = 0  # bytes at the head of the first chunk already released or dropped
        self._size = 0  # bytes held, after the skip
        self.start = 0

    @property
    def end(self) -> int:
        """Stream position just after the newest byte held."""
        return self.start + self._size

    def __len__(self) -> int:
        return self._size

    def append(self, audio: bytes) -> None:
        """Add audio at :attr:`end`, dropping the oldest if the limit is exceeded."""
        self._chunks.append(bytes(audio))  # no copy for bytes; a snapshot of anything mutable
        self._size += len(audio)
        if self._size > self._limit:
            self._discard(self._size - (self._limit * 3 // 4 & ~1))

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
        parts = []
        offset = self.start - self._skip  # stream position of the first chunk's first byte
        for chunk in self._chunks:
            chunk_end = offset + len(chunk)
            if chunk_end > first:
                parts.append(chunk[max(0, first - offset) : end - offset])
            if chunk_end >= end:
                break
            offset = chunk_end
        return b"".join(parts), dropped

    def _discard(self, count: int) -> None:
        count &= ~1  # keep whole 16-bit samples
        self.start += count
        self._size -= count
        count += self._skip
        while self._chunks and count >= len(self._chunks[0]):
            count -= len(self._chunks.popleft())
        self._skip = count
