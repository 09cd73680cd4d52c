"""Timeline: one stream clock across rotated or replayed tasks."""

from __future__ import annotations

import pytest

from funasr_realtime.protocol import Sentence, Timeline


@pytest.mark.parametrize(("rate", "nbytes", "ms"), [(16000, 3200, 100), (8000, 1600, 100), (48000, 96000, 1000)])
def test_ms(rate: int, nbytes: int, ms: int) -> None:
    assert Timeline(rate).ms(nbytes) == ms


@pytest.mark.parametrize(("rate", "ms", "nbytes"), [(16000, 100, 3200), (8000, 250, 4000), (16000, 0, 0)])
def test_bytes_at(rate: int, ms: int, nbytes: int) -> None:
    assert Timeline(rate).bytes_at(ms) == nbytes


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_bytes_at_is_on_a_sample_boundary_and_round_trips(rate: int) -> None:
    t = Timeline(rate)
    for ms in range(0, 2000, 7):
        position = t.bytes_at(ms)
        assert position % 2 == 0
        assert abs(t.ms(position) - ms) <= 1


def test_task_offset_maps_task_times_onto_the_stream() -> None:
    t = Timeline(16000)
    offset = t.ms(16000)  # the first task carried 500 ms: the next starts there
    sentence = Sentence(begin_time=100, end_time=400, text="x").shifted(offset)
    assert (sentence.begin_time, sentence.end_time) == (600, 900)
