"""An in-memory server for the context tests (client and adapters): it answers every task
and records the instructions it received (run-task and continue-task), in order."""

from __future__ import annotations

import asyncio

from funasr_realtime.protocol import ContinueTask, FinishTask, RunTask
from funasr_realtime.testing import MockConnection

__all__ = ["Recorder", "texts"]


class Recorder:
    """A server that answers every task and records the instructions it received, in order.

    ``drop_first`` drops the first connection after its first audio frame (a reset), so the
    client reconnects and replays.
    """

    def __init__(self, *, drop_first: bool = False) -> None:
        self.messages: list[RunTask | ContinueTask] = []
        self.drop_first = drop_first
        self.audio = asyncio.Event()

    @property
    def run_tasks(self) -> list[RunTask]:
        return [m for m in self.messages if isinstance(m, RunTask)]

    @property
    def continue_tasks(self) -> list[ContinueTask]:
        return [m for m in self.messages if isinstance(m, ContinueTask)]

    async def __call__(self, server: MockConnection) -> None:
        while True:
            self.messages.append(await server.run_task())
            await server.start_task()
            while not isinstance(message := await server.receive(), FinishTask):
                if isinstance(message, ContinueTask):
                    self.messages.append(message)
                elif self.drop_first:
                    self.drop_first = False
                    server.drop()
                    return
                else:
                    self.audio.set()
            await server.result("ok", final=True)
            await server.finish_task()


def texts(input: dict[str, object]) -> list[tuple[str, str]]:
    """(role, text) of each message of a run-task's or continue-task's ``input.context``."""
    context = input.get("context", [])
    assert isinstance(context, list)
    return [(m["role"], "".join(part["text"] for part in m["content"])) for m in context]
