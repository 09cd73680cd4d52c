"""The replay buffer keeps unacknowledged audio by stream position, bounded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funasr_realtime.protocol import ReplayBuffer


def test_read_returns_what_was_appended_at_its_positions() -> None:
    buffer = ReplayBuffer(1000)
    buffer.append(b"ab" * 10)
    buffer.append(b"cd" * 10)
    assert buffer.start == 0 and buffer.end == 40
    assert buffer.read(18, 24) == (b"abcdcd", 0)


def test_release_forgets_acknowledged_audio() -> None:
    buffer = ReplayBuffer(1000)
    buffer.append(bytes(range(100)))
    buffer.release(40)
    assert buffer.start == 40 and len(buffer) == 60
    assert buffer.read(40, 44) == (bytes([40, 41, 42, 43]), 0)
    buffer.release(10)  # going backwards is a no-op
    assert buffer.start == 40


def test_overflow_drops_the_oldest_and_reads_report_it() -> None:
    buffer = ReplayBuffer(100)
    buffer.append(b"\x01" * 80)
    buffer.append(b"\x02" * 40)  # 120 > 100: keep the newest 74 bytes (3/4 of the limit, even)
    assert len(buffer) <= 100 and buffer.end == 120
    data, dropped = buffer.read(0, 120)
    assert dropped == buffer.start and dropped > 0
    assert data == (b"\x01" * 80 + b"\x02" * 40)[dropped:]


def test_positions_stay_on_sample_boundaries() -> None:
    buffer = ReplayBuffer(101)
    for _ in range(50):
        buffer.append(b"\x00" * 6)
    assert buffer.start % 2 == 0


def test_limit_must_hold_a_sample() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ReplayBuffer(1)


@settings(max_examples=200, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 120)), max_size=40))
def test_read_matches_a_model_of_the_whole_stream(steps: list[tuple[int, int]]) -> None:
    buffer = ReplayBuffer(64)
    stream = bytearray()
    for size, ack in steps:
        chunk = bytes((len(stream) + i) % 251 for i in range(size * 2))
        stream += chunk
        buffer.append(chunk)
        buffer.release(min(ack * 2, len(stream)))
        data, dropped = buffer.read(0, len(stream))
        assert data == bytes(stream[buffer.start :])
        assert dropped == buffer.start
        assert len(buffer) <= 64


@settings(max_examples=200, derandomize=True, database=None)
@given(
    st.lists(st.tuples(st.integers(0, 90), st.integers(0, 200), st.integers(0, 200), st.integers(0, 200)), max_size=40)
)
def test_reads_of_any_range_match_the_stream_with_odd_sized_chunks(
    steps: list[tuple[int, int, int, int]],
) -> None:
    buffer = ReplayBuffer(100)
    stream = bytearray()
    for size, ack, start, length in steps:
        chunk = bytes((len(stream) + i) % 251 for i in range(size))
        stream += chunk
        buffer.append(chunk)
        buffer.release(min(ack, len(stream)))
        data, dropped = buffer.read(start, start + length)
        first = max(start, buffer.start)
        assert data == bytes(stream[first : min(start + length, len(stream))])
        assert dropped == max(0, min(buffer.start, start + length, len(stream)) - start)
        assert buffer.start % 2 == 0 and len(buffer) <= 100 and buffer.end == len(stream)


def test_append_keeps_a_snapshot_of_mutable_audio() -> None:
    buffer = ReplayBuffer(1000)
    audio = bytearray(b"abcd")
    buffer.append(audio)
    audio[:] = b"zzzz"
    assert buffer.read(0, 4) == (b"abcd", 0)
