"""The audio path of ``send_audio_frame`` (compat/_feed.py, _loop.Poster): order, batching, backpressure, errors."""

from __future__ import annotations

import asyncio
import logging

import pytest

from funasr_realtime import ConnectionClosed, TransportTimeout
from funasr_realtime.compat._feed import AudioFeed
from funasr_realtime.compat._loop import Poster
from funasr_realtime.protocol import FunAsrError
from tests.timing import scaled


class Target:
    """A task stand-in: takes frames at once while ``open``, else only through the awaited send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.open = True
        self.gate = asyncio.Event()
        self.gate.set()
        self.error: FunAsrError | None = None

    def try_send_audio(self, data: bytes) -> bool:
        if self.open:
            self.sent.append(data)
        return self.open

    async def send_audio(self, data: bytes) -> None:
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.sent.append(data)


def feed_for(limit: int = 10, interval: float = 0.0) -> tuple[AudioFeed, list[FunAsrError]]:
    aborted: list[FunAsrError] = []

    async def abort(error: FunAsrError) -> None:
        aborted.append(error)

    return AudioFeed(Poster(asyncio.get_running_loop(), interval), limit, abort), aborted


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_frames_wait_for_the_task_then_go_in_order_in_one_batch() -> None:
    feed, _ = feed_for(limit=100)
    target = Target()
    assert feed.put(b"a") is False and feed.put(b"") is False and feed.put(b"b") is False
    await settle()
    feed.attach(target)  # audio put before the task started goes first
    assert target.sent == [b"a", b"b"]
    feed.put(b"c")
    await settle()
    assert target.sent == [b"a", b"b", b"c"]


async def test_a_backed_up_socket_drains_in_order_and_makes_put_wait_for_room() -> None:
    feed, _ = feed_for(limit=4)
    target = Target()
    feed.attach(target)
    target.open, target.gate = False, asyncio.Event()
    assert feed.put(b"123") is False
    assert feed.put(b"456") is True, "more than the limit queued: the caller must wait"
    waiting = asyncio.create_task(asyncio.to_thread(feed.wait_for_room, scaled(5)))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    target.open = True  # the drain task keeps the order even once the socket takes frames again
    target.gate.set()
    await asyncio.wait_for(waiting, scaled(5))
    await feed.flush()
    assert target.sent == [b"123", b"456"]


async def test_waiting_for_room_is_bounded() -> None:
    feed, _ = feed_for(limit=1)
    target = Target()
    target.open, target.gate = False, asyncio.Event()
    feed.attach(target)
    assert feed.put(b"12") is True
    with pytest.raises(TransportTimeout):
        await asyncio.to_thread(feed.wait_for_room, 0.05)
    target.gate.set()
    await feed.flush()


async def test_a_failed_send_drops_the_queue_aborts_once_and_is_raised_to_the_next_put() -> None:
    feed, aborted = feed_for(limit=4)
    target = Target()
    target.open, target.gate = False, asyncio.Event()
    feed.attach(target)
    feed.put(b"123")
    assert feed.put(b"456") is True
    waiting = asyncio.create_task(asyncio.to_thread(feed.wait_for_room, scaled(5)))
    error = ConnectionClosed(1011, "gone")
    target.error = error
    target.gate.set()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(waiting, scaled(5))  # the waiting caller hears it at once
    await feed.flush()
    assert aborted == [error] and target.sent == []
    with pytest.raises(ConnectionClosed):
        feed.put(b"789")


async def test_the_loop_batches_while_frames_keep_coming() -> None:
    loop = asyncio.get_running_loop()
    poster = Poster(loop, interval=0.05)
    ran: list[int] = []
    poster.post(lambda: ran.append(1))
    await settle()
    assert ran == [1], "the first post after a pause wakes the loop at once"
    poster.post(lambda: ran.append(2))
    await settle()
    assert ran == [1], "while posts keep coming, the next batch waits for the interval"
    poster.post(lambda: ran.append(3))
    await asyncio.sleep(0.1)
    assert ran == [1, 2, 3]
    await asyncio.sleep(0.1)  # a batch found nothing: back to waking at once
    poster.post(lambda: ran.append(4))
    await settle()
    assert ran == [1, 2, 3, 4]


async def test_a_raising_callback_is_logged_and_the_batch_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="funasr_realtime.compat")
    poster = Poster(asyncio.get_running_loop(), interval=0.0)
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("bug")

    poster.post(broken)
    poster.post(lambda: ran.append("after"))
    await settle()
    assert ran == ["after"] and "bug" in caplog.text


async def test_a_post_during_a_batch_runs_at_once_and_keeps_one_timer() -> None:
    poster = Poster(asyncio.get_running_loop(), interval=0.05)
    ran: list[str] = []
    poster.post(lambda: poster.post(lambda: ran.append("nested")))  # as another thread posting mid-batch
    await settle()
    assert ran == ["nested"]
    await asyncio.sleep(0.2)
    assert (poster._pending, poster._timer) == (False, None), "idle again: no timer left running"


def test_one_call_with_more_audio_than_the_queue_holds_waits_for_room_then_recognizes(local: str) -> None:
    from funasr_realtime.compat import Recognition
    from funasr_realtime.compat._session import FEED_LIMIT
    from tests.compat.conftest import Recorder
    from tests.conftest import load_speech

    speech = load_speech("s1")
    assert len(speech.pcm) > FEED_LIMIT
    recorder = Recorder()
    recognition = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=recorder)
    recognition.start()
    recognition.send_audio_frame(speech.pcm)  # more than the limit at once: returns once it went out
    recognition.stop()
    assert recorder.names[-2:] == ["complete", "close"]
    assert recorder.sentences()[-1]["text"] == speech.text
