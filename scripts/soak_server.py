"""Soak the local server with misbehaving clients; write "Server under abuse" in docs/RELIABILITY.md.

One server process (default engine: pocketsphinx with the general LM) on 127.0.0.1 faces one
case at a time for ``--seconds`` (30 s by default, about 4 minutes in all), with a well-behaved
session streaming a fixture sentence at real time beside it throughout.  Server RSS is sampled
from /proc every 0.25 s.  Everything is loopback-only and bounded: at most ``--clients``
misbehaving connections at once, each case stops at its deadline, every wait has a timeout.

    make reliability          # or: PYTHONPATH=. .venv/bin/python scripts/soak_server.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import chunks, load_speech
from tests.server.test_memory import DECODER_MB, TASK_MB, ServerProcess, server_process
from tests.server.wire import events_until_end, finish_task, new_task_id, real_time_session, run_task, start
from tests.words import word_errors
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from funasr_realtime.server.engines.pocketsphinx import DEFAULT_MAX_DECODERS

OUT = Path(__file__).resolve().parent.parent / "docs" / "RELIABILITY.md"
SECTION = "## Server under abuse"
SPEECH = [load_speech(f"s{i}") for i in range(1, 7)]
LONG = load_speech("long")


@dataclass
class Tally:
    """What the misbehaving clients of one case saw."""

    connections: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def saw(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def summary(self) -> str:
        top = sorted(self.outcomes.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} x{count}" for name, count in top) or "nothing"


@dataclass
class Behaved:
    """The well-behaved real-time sessions that ran beside a case."""

    done: int = 0
    failed: int = 0
    words_lost: int = 0
    worst_lag_s: float = 0.0


async def _outcome(ws: ClientConnection, tally: Tally, timeout: float) -> None:
    """Read until the server ends the connection or ``timeout``; record how it ended."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = await ws.recv()
                if isinstance(frame, str):
                    event = json.loads(frame)["header"]
                    if event["event"] == "task-failed":
                        tally.saw(f"task-failed {event.get('error_code')}")
                        return
    except ConnectionClosed as exc:
        tally.saw(f"closed {exc.rcvd.code if exc.rcvd else 'without close frame'}")
    except TimeoutError:
        tally.saw("still open at the deadline")


async def abandon_mid_sentence(url: str, tally: Tally, deadline: float) -> None:
    """Sends 1.5 s of speech at full speed, then nothing (never finishes the task)."""
    async with connect(url, max_size=None) as ws:
        tally.connections += 1
        await start(ws, new_task_id())
        for frame in chunks(random.choice(SPEECH).pcm[:48000]):
            await ws.send(frame)
        await _outcome(ws, tally, deadline - time.monotonic())


async def drop_mid_sentence(url: str, tally: Tally, deadline: float) -> None:
    """Sends 1.5 s of speech, then drops the TCP connection; again and again."""
    while time.monotonic() < deadline - 1:
        async with connect(url, max_size=None) as ws:
            tally.connections += 1
            await start(ws, new_task_id())
            for frame in chunks(random.choice(SPEECH).pcm[:48000]):
                await ws.send(frame)
            ws.transport.abort()
            tally.saw("dropped by the client")
        await asyncio.sleep(0.2)


async def full_speed(url: str, tally: Tally, deadline: float) -> None:
    """Streams the 20 s long fixture as fast as the socket takes it, task after task."""
    while time.monotonic() < deadline - 1:
        async with connect(url, max_size=None) as ws:
            tally.connections += 1
            task_id = new_task_id()
            await start(ws, task_id)
            for frame in chunks(LONG.pcm):
                await ws.send(frame)
            await ws.send(finish_task(task_id))
            try:
                events = await events_until_end(ws, timeout=max(1.0, deadline - time.monotonic()))
                tally.saw(events[-1]["header"]["event"])
            except TimeoutError:
                tally.saw("unfinished at the deadline")


async def never_read(url: str, tally: Tally, deadline: float) -> None:
    """Streams speech at full speed and never reads a byte of what the server sends."""
    async with connect(url, max_size=None, max_queue=1, close_timeout=2) as ws:
        tally.connections += 1
        await ws.send(run_task(new_task_id()))
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                while True:
                    for frame in chunks(LONG.pcm):
                        await ws.send(frame)
        except TimeoutError:
            tally.saw("still writing at the deadline")
        except ConnectionClosed as exc:
            tally.saw(f"closed {exc.rcvd.code if exc.rcvd else 'without close frame'}")


async def endless_speech(url: str, tally: Tally, deadline: float) -> None:
    """One sentence that never pauses: fixtures back to back without silence, at 2x real time."""
    speech = b"".join(s.pcm[8000:-8000] for s in SPEECH)
    async with connect(url, max_size=None) as ws:
        tally.connections += 1
        await start(ws, new_task_id())
        reader = asyncio.create_task(_outcome(ws, tally, deadline - time.monotonic()))
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() < deadline and not reader.done():
                for frame in chunks(speech):
                    await ws.send(frame)
                    await asyncio.sleep(0.05)
        await reader


async def garbage(url: str, tally: Tally, deadline: float) -> None:
    """Opens connections that send binary noise, broken JSON or audio before run-task; again and again."""
    frames: list[str | bytes] = [random.randbytes(3200), "{not json", json.dumps({"header": {}}), "[]" * 1000]
    while time.monotonic() < deadline - 1:
        try:
            async with connect(url, max_size=None) as ws:
                tally.connections += 1
                await ws.send(random.choice(frames))
                await _outcome(ws, tally, 5.0)
        except InvalidStatus as exc:
            tally.saw(f"HTTP {exc.response.status_code}")
        await asyncio.sleep(0.1)


CASES: list[tuple[str, Callable[[str, Tally, float], Awaitable[None]]]] = [
    ("connections left mid-sentence (never finish, never send again)", abandon_mid_sentence),
    ("connections dropped mid-sentence (TCP abort), reconnecting", drop_mid_sentence),
    ("full-speed clients (20 s of speech per task, as fast as possible)", full_speed),
    ("clients that never read", never_read),
    ("one sentence that never pauses (2x real time)", endless_speech),
    ("garbage frames and broken JSON", garbage),
]


async def well_behaved(url: str, behaved: Behaved, stop: asyncio.Event, reference: dict[str, str]) -> None:
    """Real-time sessions, one after another, until ``stop``; counts words lost against a quiet run."""
    n = 0
    while not stop.is_set():
        speech = SPEECH[n % len(SPEECH)]
        n += 1
        try:
            texts, _, lag = await real_time_session(url, speech.pcm, timeout=60)
            text = " ".join(texts)
        except (OSError, TimeoutError, ConnectionClosed, InvalidStatus, AssertionError):
            behaved.failed += 1
            continue
        behaved.done += 1
        behaved.worst_lag_s = max(behaved.worst_lag_s, lag)
        behaved.words_lost += word_errors(reference[speech.name], text)


async def _sample(server: ServerProcess, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(server.rss_mb())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def run_case(
    server: ServerProcess,
    client: Callable[[str, Tally, float], Awaitable[None]],
    clients: int,
    seconds: float,
    reference: dict[str, str],
) -> tuple[Tally, Behaved, float, float]:
    """(tally, well-behaved sessions, peak RSS MB, RSS MB 5 s after the case)."""
    tally, behaved, samples, stop = Tally(), Behaved(), [server.rss_mb()], asyncio.Event()
    sampler = asyncio.create_task(_sample(server, samples, stop))
    good = asyncio.create_task(well_behaved(server.url, behaved, stop, reference))
    deadline = time.monotonic() + seconds
    # A client that cannot even close (its peer stopped reading) is cut off 20 s past the deadline.
    bounded = (asyncio.wait_for(client(server.url, tally, deadline), seconds + 20) for _ in range(clients))
    results = await asyncio.gather(*bounded, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            tally.saw(f"client error {type(result).__name__}")
    stop.set()
    await asyncio.wait_for(asyncio.gather(sampler, good), 90)
    after = await server.rss_falls_to(0, 5.0)
    return tally, behaved, max(samples), after


def render(rows: list[tuple[str, int, Tally, Behaved, float, float]], idle: float, seconds: float, clients: int) -> str:
    lines = [
        SECTION,
        "",
        f"Measured by `scripts/soak_server.py` (`make reliability`) on {time.strftime('%Y-%m-%d')}, Python "
        f"{platform.python_version()}, {platform.machine()}: one server process, default engine (pocketsphinx, "
        f"general LM), on loopback. Each case ran {seconds:g} s with up to {clients} misbehaving clients at once, "
        "while a well-behaved session streamed fixture sentences at real time beside it. RSS sampled every "
        f"0.25 s; idle RSS after one warm-up task: {idle:.0f} MB.",
        "",
        "| case | outcome for the misbehaving clients | peak RSS (MB) | RSS 5 s later (MB) "
        "| well-behaved sessions: done / failed, words lost, worst final lag (s) |",
        "|---|---|---|---|---|",
    ]
    for what, _, tally, behaved, peak, after in rows:
        lines.append(
            f"| {what} | {tally.connections} connections: {tally.summary()} | {peak:.0f} | {after:.0f} | "
            f"{behaved.done} / {behaved.failed}, {behaved.words_lost}, {behaved.worst_lag_s:.2f} |"
        )
    lines += [
        "",
        "**Memory ceiling.** Decoders are lent to open sentences from a pool of at most `max_decoders` "
        f"({DEFAULT_MAX_DECODERS}); an open task adds its VAD (~3 MB) and its open sentence's PCM (<= 1.9 MB). So "
        f"with every connection misbehaving, engine-side RSS <= idle + (max_decoders - 1) x {DECODER_MB:g} MB + "
        f"connections x {TASK_MB:g} MB, plus the wire-side backlog bound (`ServerConfig` docstring: "
        "`max_backlog_bytes_total + max_connections x 5 x max_message_bytes`). With the defaults (256 "
        f"connections): {idle:.0f} + {(DEFAULT_MAX_DECODERS - 1) * DECODER_MB:.0f} + {256 * TASK_MB:.0f} MB "
        f"= {(idle + (DEFAULT_MAX_DECODERS - 1) * DECODER_MB + 256 * TASK_MB) / 1024:.1f} GB, plus 256 + 320 MB "
        "of backlog: under 3 GB. Once every connection has closed, idle decoders beyond `max_idle` (2) are "
        "freed and the heap is trimmed, so RSS returns to within one decoder (~65 MB) of idle. "
        "`tests/server/test_memory.py` asserts both with 24 connections left mid-sentence.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace the "Server under abuse" section of docs/RELIABILITY.md (or add it before the last line)."""
    doc = OUT.read_text() if OUT.exists() else "# Reliability\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |^Reproduce: |\Z)", re.S | re.M)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: text + "\n", doc)
    elif "\nReproduce: " in doc:
        head, _, tail = doc.rpartition("\nReproduce: ")
        doc = f"{head}\n{text}\nReproduce: {tail}"
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    OUT.write_text(doc)


async def main(seconds: float, clients: int) -> None:
    with server_process() as server:
        reference = {}
        for speech in SPEECH:  # what the well-behaved session gets from a quiet server
            texts, _, _ = await real_time_session(server.url, speech.pcm, timeout=60)
            reference[speech.name] = " ".join(texts)
        await server.settle(30)
        idle = server.rss_mb()
        rows = []
        for what, client in CASES:
            count = 1 if client is endless_speech else clients
            tally, behaved, peak, after = await run_case(server, client, count, seconds, reference)
            print(f"{what}: peak {peak:.0f} MB, after {after:.0f} MB; {tally.summary()}; {behaved}", flush=True)
            rows.append((what, count, tally, behaved, peak, after))
            await server.settle(60)
    write_section(render(rows, idle, seconds, clients))
    print(f"wrote the '{SECTION[3:]}' section of {OUT}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each case (default 30)")
    parser.add_argument("--clients", type=int, default=32, help="misbehaving clients at once (default 32)")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.clients))
