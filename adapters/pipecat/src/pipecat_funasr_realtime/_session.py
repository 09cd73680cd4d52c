"""One core stream of the service, the queue its events wait in, and what was sent on it."""

from __future__ import annotations

import asyncio

import funasr_realtime as fr

__all__ = ["Session"]


class Session:
    """One core stream and the two tasks that carry its events to the pipeline.

    The reader (:meth:`queue_events`) copies the stream's events into :attr:`queue` as they
    come, with a failure as an item; the service's consumer takes them from there.
    """

    def __init__(self, stream: fr.RecognitionStream) -> None:
        self.stream = stream
        self.queue: asyncio.Queue[fr.StreamEvent | fr.FunAsrError | None] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None
        self.consumer: asyncio.Task[None] | None = None
        self.failed = False
        self.reported = False  # the failure's ErrorFrame went out
        self.finishing = False

    async def queue_events(self) -> None:
        """Copy the stream's events into the queue; a failure, then None, end it."""
        try:
            async for event in self.stream.events():
                self.queue.put_nowait(event)
        except fr.FunAsrError as exc:
            self.queue.put_nowait(exc)
        finally:
            self.queue.put_nowait(None)

    def tasks(self) -> list[asyncio.Task[None]]:
        """The reader and the consumer, where they still run; forgets them."""
        running = [task for task in (self.reader, self.consumer) if task is not None and not task.done()]
        self.reader = self.consumer = None
        return running
