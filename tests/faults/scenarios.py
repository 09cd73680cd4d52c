"""Fault scenarios: the long fixture streamed through a FaultProxy while a fault strikes.

Shared by the tests (which assert on the outcome) and scripts/reliability_report.py (which
publishes the same measurements in docs/RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import funasr_realtime as fr
from funasr_realtime.testing import Fault, FaultProxy
from tests.conftest import chunks, load_speech

#: Fast liveness for tests: a half-open connection is detected within ~1.5 s. A tighter pong
#: deadline would also fire while the server decodes a replay burst of many seconds.
TIMEOUTS = fr.Timeouts(connect=2, task_started=2, stop=3, send=2, ping_interval=0.5, ping_timeout=1.0, close=0.3)
RESILIENCE = fr.Resilience(backoff_initial=0.05, backoff_max=0.5, standby=True)
FAULT_AT_MS = 6000  # mid-way through the second sentence of the long fixture
PACE = 0.25  # seconds of wall time per second of audio (4x real time keeps the suite fast)

Inject = Callable[[FaultProxy], None]


@dataclass
class Scenario:
    name: str
    what: str
    inject: Inject | None = None
    proxy_latency: float = 0.0
    proxy_rate: float | None = None
    resilience: fr.Resilience = RESILIENCE
    before_connect: Inject | None = None


@dataclass
class Outcome:
    scenario: Scenario
    texts: list[str]
    reference: list[str]
    spans: list[tuple[int, int]] = field(default_factory=list)  # (begin_ms, end_ms) of each final
    reconnects: list[fr.Reconnected] = field(default_factory=list)
    error: fr.FunAsrError | None = None
    wall_s: float = 0.0
    connections: int = 0
    run_tasks: int = 0
    fault_at: float | None = None  # monotonic time the fault struck
    recovered_at: float | None = None  # monotonic time the last Reconnected event arrived

    @property
    def fault_to_recovery_ms(self) -> float:
        """From the fault striking to the stream running again (includes detection)."""
        if self.fault_at is None or self.recovered_at is None:
            return 0.0
        return (self.recovered_at - self.fault_at) * 1000

    @property
    def words_lost(self) -> int:
        got = " ".join(self.texts).split()
        return sum(max(0, len(ref.split()) - _overlap(ref.split(), got)) for ref in self.reference)

    @property
    def recovery_ms(self) -> float:
        return max((r.downtime_ms for r in self.reconnects), default=0.0)

    @property
    def dropped_ms(self) -> int:
        return sum(r.dropped_ms for r in self.reconnects)


def _overlap(words: list[str], hypothesis: list[str]) -> int:
    """Longest common subsequence length (how many reference words survived, in order)."""
    previous = [0] * (len(hypothesis) + 1)
    for word in words:
        current = [0]
        for j, other in enumerate(hypothesis, 1):
            current.append(previous[j - 1] + 1 if word == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


SCENARIOS = [
    Scenario("baseline", "no fault"),
    Scenario("reset", "TCP reset mid-utterance (client sees 1006)", lambda p: p.drop()),
    Scenario("close-1011", "server closes with 1011 mid-utterance", lambda p: p.close_with(1011, "internal error")),
    Scenario("cut-frame", "a server frame cut in half, then reset", lambda p: p.cut_next_frame()),
    Scenario("half-open", "black hole: no bytes, no pongs (half-open socket)", lambda p: p.blackhole()),
    Scenario(
        "throttled",
        "Throttling.RateQuota task-failed mid-stream",
        lambda p: p.inject_task_failed("Throttling.RateQuota", "Requests rate limit exceeded"),
    ),
    Scenario(
        "handshake-503",
        "reset, then HTTP 503 on the next two handshakes",
        lambda p: (p.reject_handshakes(503, count=2), p.drop())[0],
    ),
    Scenario("slow-network", "80 ms added latency per chunk and 256 kB/s", proxy_latency=0.08, proxy_rate=256_000),
    Scenario(
        "reset-at-byte",
        "TCP reset once the client has sent 300 kB (mid-sentence, armed before connecting)",
        before_connect=lambda p: p.fail_after(client_bytes=300_000, fault=Fault.RESET),
    ),
]


async def run(scenario: Scenario, server_url: str, *, api_key: str | None = None) -> Outcome:
    """Stream the long fixture through a proxy, strike at FAULT_AT_MS, collect the finals."""
    speech = load_speech("long")
    async with FaultProxy(server_url, latency=scenario.proxy_latency, bytes_per_second=scenario.proxy_rate) as proxy:
        client = fr.Client(url=proxy.url, api_key=api_key, timeouts=TIMEOUTS, resilience=scenario.resilience)
        outcome = Outcome(scenario, [], list(speech.texts))
        started = time.monotonic()
        stream = client.stream(max_sentence_silence=600)
        try:
            if scenario.before_connect is not None:
                scenario.before_connect(proxy)
            await stream.connect()
            reader = asyncio.create_task(_collect(stream, outcome))
            await _feed(stream, speech.pcm, proxy, scenario.inject, outcome)
            await stream.finish()
            await reader
        except fr.FunAsrError as exc:
            outcome.error = exc
        finally:
            await stream.aclose()
        outcome.wall_s = time.monotonic() - started
        outcome.connections, outcome.run_tasks = proxy.connections, proxy.run_tasks
        outcome.fault_at = outcome.fault_at or proxy.triggered_at
    return outcome


@dataclass
class PermanentFailure:
    """What a stream did after the service refused it for good mid-stream."""

    error: fr.FunAsrError | None  # what iterating the stream raised
    error_on_send: fr.FunAsrError | None  # what sending more audio raised afterwards
    run_tasks: int  # tasks the proxy saw started: 1 means it was never retried


async def permanent_failure(server_url: str, *, api_key: str | None = None) -> PermanentFailure:
    """An InvalidApiKey task-failed injected one second into a task."""
    speech = load_speech("long")
    async with FaultProxy(server_url) as proxy:
        stream = fr.Client(url=proxy.url, api_key=api_key, timeouts=TIMEOUTS).stream()
        outcome = Outcome(Scenario("invalid-key", "InvalidApiKey task-failed mid-stream"), [], [])
        reader = asyncio.create_task(_collect(stream, outcome))
        for n, chunk in enumerate(chunks(speech.pcm[:96000])):
            await stream.send_audio(chunk)
            if n == 10:
                await asyncio.sleep(0.2)
                proxy.inject_task_failed("InvalidApiKey", "Invalid API-key provided.")
                await asyncio.sleep(0.5)
                break
        result = PermanentFailure(None, None, 0)
        try:
            await asyncio.wait_for(reader, 5)
        except fr.FunAsrError as exc:
            result.error = exc
        try:
            await stream.send_audio(b"\x00\x00")
        except fr.FunAsrError as exc:
            result.error_on_send = exc
        await stream.aclose()
        result.run_tasks = proxy.run_tasks
    return result


async def long_outage(server_url: str, *, api_key: str | None = None) -> list[fr.Reconnected]:
    """A 1 s replay buffer and a black hole after 2 s of real-time audio, noticed ~2.5 s
    later: more audio is lost than the buffer holds. Returns the reconnects reported."""
    speech = load_speech("long")
    resilience = fr.Resilience(replay_seconds=1.0, backoff_initial=0.05, backoff_max=0.2)
    slow_detection = fr.Timeouts(connect=2, task_started=2, stop=3, send=2, ping_interval=1.0, ping_timeout=1.5)
    async with FaultProxy(server_url) as proxy:
        client = fr.Client(url=proxy.url, api_key=api_key, timeouts=slow_detection, resilience=resilience)
        stream = client.stream()
        outcome = Outcome(Scenario("long-outage", "black hole longer than the replay buffer"), [], [])
        reader = asyncio.create_task(_collect(stream, outcome))
        start = time.monotonic()
        for n, chunk in enumerate(chunks(speech.pcm[:320000])):
            await asyncio.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
            await stream.send_audio(chunk)
            if n == 20:
                proxy.blackhole()
        await stream.finish()
        await reader
    return outcome.reconnects


async def _feed(
    stream: fr.RecognitionStream, pcm: bytes, proxy: FaultProxy, inject: Inject | None, outcome: Outcome
) -> None:
    start = time.monotonic()
    for n, chunk in enumerate(chunks(pcm)):
        await asyncio.sleep(max(0.0, start + n * 0.1 * PACE - time.monotonic()))
        await stream.send_audio(chunk)
        if inject is not None and (n + 1) * 100 == FAULT_AT_MS:
            outcome.fault_at = time.monotonic()
            inject(proxy)


async def _collect(stream: fr.RecognitionStream, outcome: Outcome) -> None:
    async for event in stream:
        if isinstance(event, fr.SentenceEvent) and event.is_final:
            outcome.texts.append(event.sentence.text)
            outcome.spans.append((event.sentence.begin_time, event.sentence.end_time or 0))
        elif isinstance(event, fr.Reconnected):
            outcome.reconnects.append(event)
            outcome.recovered_at = time.monotonic()


__all__ = [
    "FAULT_AT_MS",
    "RESILIENCE",
    "SCENARIOS",
    "TIMEOUTS",
    "Fault",
    "Outcome",
    "Scenario",
    "PermanentFailure",
    "long_outage",
    "permanent_failure",
    "run",
]
