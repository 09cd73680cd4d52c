"""The light primitives of client/_sync.py behave as the asyncio ones they replace.

:class:`Flag` as ``asyncio.Event`` (set, clear, wait, every waiter woken, cancellation
leaves no waiter behind), :class:`Mailbox` as an unbounded ``asyncio.Queue`` (FIFO, a
getter waits for a put, a cancelled getter loses no item, a long backlog stays in order).
"""

from __future__ import annotations

import asyncio
import contextlib

from funasr_realtime.client._sync import Flag, Mailbox
from tests.timing import scaled


async def test_flag_wakes_every_waiter_and_can_be_cleared() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    flag.set()  # idempotent
    async with asyncio.timeout(scaled(2)):
        assert await asyncio.gather(*waiters) == [True, True, True]
    assert flag.is_set()
    assert await flag.wait() is True  # set: returns at once
    flag.clear()
    assert not flag.is_set()
    assert flag._waiters is None  # every waiter left: no list kept


async def test_a_cancelled_flag_waiter_leaves_nothing_behind() -> None:
    flag = Flag()
    waiter = asyncio.create_task(flag.wait())
    other = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    assert flag._waiters is not None and len(flag._waiters) == 1
    flag.set()
    async with asyncio.timeout(scaled(2)):
        assert await other is True
    assert flag._waiters is None


async def test_mailbox_is_a_fifo_whose_getter_waits_for_a_put() -> None:
    box: Mailbox[int | None] = Mailbox()
    getter = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert not getter.done()
    box.put_nowait(1)
    box.put_nowait(None)
    async with asyncio.timeout(scaled(2)):
        assert await getter == 1
    assert len(box) == 1
    assert await box.get() is None
    assert len(box) == 0


async def test_a_cancelled_getter_loses_no_item() -> None:
    box: Mailbox[str] = Mailbox()
    getter = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.put_nowait("kept")
    getter.cancel()  # woken by the put, cancelled before it ran
    with contextlib.suppress(asyncio.CancelledError):
        await getter
    async with asyncio.timeout(scaled(2)):
        assert await box.get() == "kept"
    assert box._waiters is None


async def test_a_long_backlog_comes_out_in_order() -> None:
    box: Mailbox[int] = Mailbox()
    for n in range(1000):
        box.put_nowait(n)
    out = [await box.get() for _ in range(700)]  # the reader far behind: read items are dropped on the way
    for n in range(1000, 1100):
        box.put_nowait(n)
    out += [await box.get() for _ in range(len(box))]
    assert out == list(range(1100))
    assert len(box._items) == 0
