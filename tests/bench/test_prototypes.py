"""The benchmark's prototype replay buffer keeps the core ReplayBuffer's contract.

Its measured effect is only meaningful if it behaves the same: same positions, same
bytes read back, same drops when full, for any sequence of appends, releases and reads.
"""

from __future__ import annotations

import random

import pytest
from bench.prototypes import ChunkedReplayBuffer

from funasr_realtime.protocol import ReplayBuffer


@pytest.mark.parametrize("seed", range(20))
def test_chunked_replay_buffer_behaves_like_the_core_one(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([2000, 10_000, 64_000])
    core, chunked = ReplayBuffer(limit), ChunkedReplayBuffer(limit)
    for _ in range(300):
        action = rng.random()
        if action < 0.6:
            audio = rng.randbytes(rng.choice([2, 100, 640, 3200]))
            core.append(audio)
            chunked.append(audio)
        elif action < 0.8:
            position = rng.randint(0, core.end + 10)
            core.release(position)
            chunked.release(position)
        else:
            start = rng.randint(max(0, core.start - 500), core.end + 10)
            end = rng.randint(start, core.end + 100)
            assert chunked.read(start, end) == core.read(start, end)
        assert (chunked.start, chunked.end, len(chunked)) == (core.start, core.end, len(core))
