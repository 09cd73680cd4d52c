"""Light asyncio primitives for the state every stream and connection holds: :class:`Flag`, :class:`Mailbox`.

``asyncio.Event`` and ``asyncio.Queue`` allocate their ``collections.deque`` of waiters
eagerly: 760 bytes each, three of them in a Queue (3.3 kB with its locks). A stream held
two Queues and four Events, a connection two Events, about 10 kB per stream with its
standby, a fifth of what a stream cost besides its audio (bench/memory.py). These keep no
waiter list until somebody waits, and drop it when the last waiter leaves. They have the
subset of the asyncio API the client uses, with the same semantics, on the running loop.
"""

from __future__ import annotations

import asyncio
from typing import Generic, Literal, TypeVar, cast

__all__ = ["Flag", "Mailbox"]

T = TypeVar("T")


class _Waiters:
    """Futures of the coroutines waiting on a primitive; created on the first wait."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] | None = None

    async def _park(self) -> None:
        """Wait until :meth:`_wake` (or cancellation); the future is removed either way."""
        future = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(future)
        try:
            await future
        finally:
            waiters.remove(future)
            if not waiters and self._waiters is waiters:
                self._waiters = None

    def _wake(self) -> None:
        for future in self._waiters or ():
            if not future.done():
                future.set_result(None)


class Flag(_Waiters):
    """``asyncio.Event``'s ``set`` / ``clear`` / ``is_set`` / ``wait``, without its eager deque."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        super().__init__()
        self._value = False

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        """Set the flag and wake every waiter (a waiter woken returns even if it is cleared again)."""
        if not self._value:
            self._value = True
            self._wake()

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> Literal[True]:
        """Until the flag is set; returns True at once if it is."""
        if not self._value:
            await self._park()
        return True


class Mailbox(_Waiters, Generic[T]):
    """An unbounded FIFO: ``asyncio.Queue``'s ``put_nowait`` and ``get``, without its three deques.

    Items sit in a list read from a moving head (amortized O(1) per item); the list is
    emptied whenever the reader catches up.
    """

    __slots__ = ("_head", "_items")

    def __init__(self) -> None:
        super().__init__()
        self._items: list[T] = []
        self._head = 0

    def __len__(self) -> int:
        return len(self._items) - self._head

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._wake()

    async def get(self) -> T:
        """The oldest item, waiting for one if there is none."""
        while self._head >= len(self._items):
            await self._park()
        items, head = self._items, self._head
        item = items[head]
        head += 1
        if head == len(items):
            items.clear()
            head = 0
        elif head >= 64 and head * 2 >= len(items):
            del items[:head]  # a reader far behind: drop what it has read, once in a while
            head = 0
        else:
            items[head - 1] = cast(T, None)  # let the item go now
        self._head = head
        return item
