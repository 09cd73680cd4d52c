"""Prototypes of core changes the profiles call for, measured without editing the core.

``install(name)`` patches ``funasr_realtime`` *in a benchmark worker process only*, so a
benchmark can measure a proposed change side by side with the released code. These are
sketches of the change, not the change: the real one belongs in ``src/funasr_realtime``
with its tests (see the "Findings" section of the report).

* ``chunked_replay``: the replay buffer keeps the frames it is handed as a list of
  ``bytes`` chunks instead of one growing ``bytearray``. Appending then never copies; a
  ``bytearray`` that grows by a frame at a time is reallocated (and copied whole, when the
  allocator cannot extend it in place: the usual case with many interleaved buffers) about
  every eighth append, so each append copies ~8 frames' worth of audio on average.
"""

from __future__ import annotations

from collections import deque

PROTOTYPES = ("chunked_replay",)


class ChunkedReplayBuffer:
    """:class:`funasr_realtime.protocol.ReplayBuffer`'s contract over a deque of chunks."""

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 2:
            raise ValueError("limit_bytes must be at least 2")
        self._limit = limit_bytes & ~1
        self._chunks: deque[bytes] = deque()
        self._skip = 0  # bytes of the first chunk already released
        self._size = 0  # bytes held (after the skip)
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + self._size

    def __len__(self) -> int:
        return self._size

    def append(self, audio: bytes) -> None:
        self._chunks.append(bytes(audio))
        self._size += len(audio)
        if self._size > self._limit:
            self._discard(self._size - (self._limit * 3 // 4 & ~1))

    def release(self, position: int) -> None:
        if position > self.start:
            self._discard(min(position, self.end) - self.start)

    def read(self, start: int, end: int) -> tuple[bytes, int]:
        end = min(end, self.end)
        dropped = max(0, min(self.start, end) - start)
        first = max(start, self.start)
        if first >= end:
            return b"", dropped
        out = []
        offset = self.start - self._skip  # stream position of the first chunk's first byte
        for chunk in self._chunks:
            chunk_end = offset + len(chunk)
            if chunk_end > first:
                out.append(chunk[max(0, first - offset) : end - offset])
            if chunk_end >= end:
                break
            offset = chunk_end
        return b"".join(out), dropped

    def _discard(self, count: int) -> None:
        count &= ~1
        self.start += count
        self._size -= count
        count += self._skip
        while self._chunks and count >= len(self._chunks[0]):
            count -= len(self._chunks.popleft())
        self._skip = count


def install(name: str | None) -> None:
    if not name:
        return
    if name not in PROTOTYPES:
        raise ValueError(f"unknown prototype {name!r}; known: {', '.join(PROTOTYPES)}")
    from funasr_realtime.client import stream

    stream.ReplayBuffer = ChunkedReplayBuffer  # type: ignore[attr-defined,assignment]
