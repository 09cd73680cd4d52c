"""A scripted Fun-ASR for the adapters' logic tests: in memory, no socket, no engine.

``FakeFunAsr(texts)`` plays the service on every connection of its ``transport`` (a
:class:`~funasr_realtime.testing.MockTransport`). It answers run-task, takes the audio and
"recognizes" by energy alone: an utterance is a run of non-zero samples, ended by
``max_sentence_silence`` ms of exact zeros (the task's own parameter; Fun-ASR's 1300 ms by
default) or by finish-task. Each utterance is the next of ``texts``, in the order they are
spoken over every task and connection; its partials are its first words, one more every
``partial_ms`` of speech, and its words share its span evenly. Times are on the task's
timeline, finals carry the task's billed seconds (whole seconds of its audio, as the
service bills) and so does task-finished.

The speech fixtures are exact zeros around and between their sentences, so each fixture
sentence is one utterance here, ending where the recording's sentence ends: what a
logic test needs of recognition (when finals come, how many, on which timeline), without
pocketsphinx. Tests that need the *words* really recognized stay on the loopback server.

Like the local server it can fail a task whose client sent nothing for ``client_timeout``
(``CLIENT_ERROR``) and close a connection left without a task for ``idle_timeout``. It can
hold every answer to finish-task for ``answer_delay`` seconds (a slow network), and drop
the connection of the first task that has heard ``drop_after`` bytes (a reset, once): the
sentence it was hearing is then not said, and the next utterance says it. Speech beyond the
script is a test failure: the handler raises, and ``errors`` keeps it.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from funasr_realtime.client import ClientConfig, Transport
from funasr_realtime.protocol import ContinueTask, FinishTask, RunTask, Sentence, Usage, Word
from funasr_realtime.testing import Handler, MockConnection, MockTransport

__all__ = ["CountingTransport", "FakeFunAsr", "FakeTask"]

FUN_ASR_SENTENCE_SILENCE_MS = 1300

T = TypeVar("T")


class CountingTransport(MockTransport):
    """A :class:`MockTransport` that also counts refused opens (``opens``: every attempt)."""

    def __init__(self, handler: Handler | None = None) -> None:
        super().__init__(handler)
        self.opens = 0

    async def open(self, config: ClientConfig) -> Transport:
        self.opens += 1
        return await super().open(config)


@dataclass
class FakeTask:
    """One task the fake served: its run-task, the connection it ran on, what it heard and said."""

    run: RunTask
    connection: int  # index in transport.connections
    audio_bytes: int = 0
    said: list[str] = field(default_factory=list)  # the finals' texts
    finished: bool = False  # task-finished sent (not failed, not cut off)

    @property
    def parameters(self) -> dict[str, Any]:
        return self.run.parameters


class FakeFunAsr:
    """The scripted service (see the module docstring); ``transport`` goes to the adapter."""

    def __init__(
        self,
        texts: Iterable[str] = (),
        *,
        partial_ms: int = 200,
        answer_delay: float = 0.0,
        client_timeout: float | None = None,
        idle_timeout: float | None = None,
        drop_after: int | None = None,
    ) -> None:
        self._texts = deque(texts)
        self.drop_after = drop_after
        self.partial_ms = partial_ms
        self.answer_delay = answer_delay
        self.client_timeout = client_timeout
        self.idle_timeout = idle_timeout
        self.tasks: list[FakeTask] = []
        self.transport = CountingTransport(self.serve)

    @property
    def errors(self) -> list[BaseException]:
        """What the handler raised (speech beyond the script, a protocol breach): [] in a passing test."""
        return self.transport.errors

    def next_text(self) -> str:
        if not self._texts:
            raise AssertionError("the fake Fun-ASR heard more utterances than it was scripted to say")
        return self._texts.popleft()

    def unsay(self, text: str) -> None:
        """A sentence cut off before its final: the next utterance says it."""
        self._texts.appendleft(text)

    def drops(self, task: FakeTask) -> bool:
        """Whether ``task``'s connection is to be dropped now (once)."""
        if self.drop_after is None or task.audio_bytes < self.drop_after:
            return False
        self.drop_after = None
        return True

    async def serve(self, server: MockConnection) -> None:
        """The handler: the tasks of one connection, one after another."""
        index = self.transport.connections.index(server)
        while True:
            run = await _within(self.idle_timeout, server.run_task())
            if run is None:
                await server.close(1000, "idle timeout")
                return
            task = FakeTask(run, index)
            self.tasks.append(task)
            await server.start_task()
            if not await _TaskPlayer(self, server, task).play():
                return


class _Utterance:
    """The utterance being spoken: sample positions on the task's timeline, and its text."""

    def __init__(self, start: int, text: str, sentence_id: int) -> None:
        self.start = start
        self.end = start  # one past its last non-zero sample
        self.text = text
        self.words = text.split()
        self.sentence_id = sentence_id
        self.partials = 0
        self.partial_at = start


class _TaskPlayer:
    """One task: audio in, partials and finals out, then task-finished (or task-failed)."""

    def __init__(self, fake: FakeFunAsr, server: MockConnection, task: FakeTask) -> None:
        self._fake = fake
        self._server = server
        self._task = task
        if task.parameters.get("format", "pcm") != "pcm":
            raise AssertionError("the fake Fun-ASR hears 16-bit PCM only")
        self._rate = int(task.parameters.get("sample_rate", 16000))
        silence_ms = task.parameters.get("max_sentence_silence") or FUN_ASR_SENTENCE_SILENCE_MS
        self._silence = self._rate * int(silence_ms) // 1000
        self._partial = self._rate * fake.partial_ms // 1000
        self._position = 0  # samples heard
        self._utterance: _Utterance | None = None
        self._sentences = 0

    async def play(self) -> bool:
        """Serve the task to its end; False once it failed (the connection is then closed)."""
        while True:
            message = await _within(self._fake.client_timeout, self._server.receive())
            if message is None:
                timeout = self._fake.client_timeout
                await self._server.fail_task("CLIENT_ERROR", f"request timeout after {timeout:g} seconds.")
                return False
            if isinstance(message, bytes):
                await self._hear(message)
                if self._fake.drops(self._task):
                    if self._utterance is not None:
                        self._fake.unsay(self._utterance.text)
                    self._server.drop()
                    return False
            elif isinstance(message, FinishTask):
                await asyncio.sleep(self._fake.answer_delay)
                await self._end_utterance()
                await self._server.finish_task(self._usage())
                self._task.finished = True
                return True
            elif not isinstance(message, ContinueTask):  # the protocol admits nothing else in a task
                raise AssertionError(f"unexpected {message!r} in a task")

    async def _hear(self, data: bytes) -> None:
        self._task.audio_bytes += len(data)
        base = self._position
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
        self._position += len(samples)
        voiced = np.flatnonzero(samples)
        if voiced.size:
            # Runs of voice inside this chunk, split where the gap is a sentence silence.
            gaps = np.flatnonzero(np.diff(voiced) >= self._silence)
            starts = [voiced[0], *voiced[gaps + 1]]
            ends = [*voiced[gaps], voiced[-1]]
            for start, end in zip(starts, ends, strict=True):
                await self._voice(base + int(start), base + int(end) + 1)
        if self._utterance is not None and self._position - self._utterance.end >= self._silence:
            await self._end_utterance()

    async def _voice(self, start: int, end: int) -> None:
        utterance = self._utterance
        if utterance is not None and start - utterance.end >= self._silence:
            await self._end_utterance()
            utterance = None
        if utterance is None:
            self._sentences += 1
            utterance = self._utterance = _Utterance(start, self._fake.next_text(), self._sentences)
            await self._send_partial(utterance)
        utterance.end = end
        if end - utterance.partial_at >= self._partial:
            utterance.partial_at = end
            await self._send_partial(utterance)

    async def _send_partial(self, utterance: _Utterance) -> None:
        utterance.partials += 1
        text = " ".join(utterance.words[: utterance.partials])
        sentence = Sentence(
            begin_time=self._ms(utterance.start),
            end_time=None,
            text=text,
            sentence_end=False,
            heartbeat=False,
            sentence_id=utterance.sentence_id,
        )
        await self._server.send_result(sentence)

    async def _end_utterance(self) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            return
        begin, end = self._ms(utterance.start), self._ms(utterance.end)
        sentence = Sentence(
            begin_time=begin,
            end_time=end,
            text=utterance.text,
            words=_spread(utterance.words, begin, end),
            sentence_end=True,
            heartbeat=False,
            sentence_id=utterance.sentence_id,
        )
        self._task.said.append(utterance.text)
        await self._server.send_result(sentence, self._usage())

    def _usage(self) -> Usage:
        return Usage(duration=math.ceil(self._position / self._rate))

    def _ms(self, samples: int) -> int:
        return samples * 1000 // self._rate


def _spread(words: list[str], begin: int, end: int) -> tuple[Word, ...]:
    """``words`` sharing ``[begin, end]`` evenly."""
    step = (end - begin) / max(len(words), 1)
    return tuple(
        Word(begin_time=begin + round(i * step), end_time=begin + round((i + 1) * step), text=word, punctuation="")
        for i, word in enumerate(words)
    )


async def _within(seconds: float | None, waiting: Awaitable[T]) -> T | None:
    """``await waiting``, or None after ``seconds`` (None: no bound)."""
    if seconds is None:
        return await waiting
    try:
        async with asyncio.timeout(seconds):
            return await waiting
    except TimeoutError:
        return None
