"""Measure every fault scenario and the server's capacity; write docs/RELIABILITY.md.

Runs the same scenarios as tests/faults (tests/faults/scenarios.py) against a local server
process, through the fault proxy, and publishes what was measured in this run.

    make reliability          # or: PYTHONPATH=. .venv/bin/python scripts/reliability_report.py

The "Server under abuse" section is written by scripts/soak_server.py (run after this script by
`make reliability`); this script keeps it when it rewrites the file.
"""

from __future__ import annotations

import asyncio
import platform
import re
import time
from dataclasses import fields
from pathlib import Path

from tests.conftest import GRAMMAR, chunks, load_speech
from tests.faults.scenarios import FAULT_AT_MS, PACE, SCENARIOS, Outcome, long_outage, permanent_failure, run
from tests.server.process import served

import funasr_realtime as fr
from funasr_realtime.server import ServerConfig

KEY = "sk-report-0123456789abcdef"
OUT = Path(__file__).resolve().parent.parent / "docs" / "RELIABILITY.md"

#: Not measured here: the ceiling the service's documented task quota implies (README, "Task quota").
TASK_QUOTA = [
    "## Task quota",
    "",
    "The service lets an account start about 20 tasks per second per model (documented: 20 per second, "
    '"RPM 1200"; not measured against a live key) and says throttling "typically resumes within one minute". '
    "Finalize by rotation starts one task per turn, so the ceiling is in turns per second across the "
    "account:",
    "",
    "| agents on one account | one turn every | task starts per second | within 20/s |",
    "|---|---|---|---|",
    "| 20 | 1 s | 20 | yes |",
    "| 100 | 5 s | 20 | yes |",
    "| 200 | 5 s | 40 | no: ask for 40/s |",
    "| 1000 | 5 s | 200 | no: ask for 200/s |",
    "",
    "Every run-task of a process (first task, rotation, retry, the task after an idle finish) takes a "
    "token of `Resilience.task_rate` (20/s on Alibaba Cloud endpoints by default, burst `task_burst` = "
    "10) before it is sent; its audio waits in the replay buffer. A finalize whose new task would wait "
    "more than `task_burst / task_rate` (0.5 s) keeps its task open (the service's endpointing ends the "
    "sentence), so under pressure no audio is lost and the client never throttles the service: "
    "`tests/client/test_limiter.py` holds 100 streams finalizing every second against a server enforcing "
    "20/s, and `tests/server/test_task_quota.py` 30 over the wire (`ServerConfig.task_rate`), with no "
    "throttling and every byte in a task. Throttled anyway (several processes or machines on one account:"
    " the limiter is per process), a stream retries `Throttling.*` with a backoff of 1 s doubling to 10 s"
    " for up to 90 s, whatever `max_retries`. To go beyond 20/s, ask Alibaba Cloud (Model Studio console "
    "or a support ticket) to raise the model's rate limit for the root account, naming the models and the"
    " starts per second you need (agents / seconds per turn, plus retries), then set `task_rate` to what "
    "was granted.",
]


async def fault_rows(url: str) -> list[Outcome]:
    return [await run(scenario, url, api_key=KEY) for scenario in SCENARIOS]


async def permanent_error_row(url: str) -> tuple[str, str, int]:
    outcome = await permanent_failure(url, api_key=KEY)
    error = outcome.error
    observed = (
        f"`TaskFailedError` {error.error_code}, raised once" if isinstance(error, fr.TaskFailedError) else "no error"
    )
    return "InvalidApiKey task-failed mid-stream", observed, outcome.run_tasks


async def outage_row(url: str) -> tuple[str, int, int]:
    reconnects = await long_outage(url, api_key=KEY)
    dropped = sum(r.dropped_ms for r in reconnects)
    return "1 s replay buffer; black hole after 2 s of audio, noticed ~2.5 s later", dropped, len(reconnects)


async def _drain(stream: fr.RecognitionStream) -> list[fr.StreamEvent]:
    return [event async for event in stream]


async def capacity(url: str, sessions: int) -> tuple[bool, float]:
    """Run ``sessions`` real-time streams at once; (all exact and on time, worst final lag s)."""
    speeches = [load_speech(f"s{i % 6 + 1}") for i in range(sessions)]
    results = await asyncio.gather(*(_timed_session(url, s.pcm) for s in speeches), return_exceptions=True)
    if any(isinstance(r, BaseException) for r in results):
        return False, float("inf")
    lags = [lag for texts, lag in results if isinstance(texts, list)]  # type: ignore[misc]
    exact = all(texts == [s.text] for (texts, _), s in zip(results, speeches, strict=True))  # type: ignore[misc]
    return exact and max(lags) < 1.0, max(lags)


async def _timed_session(url: str, pcm: bytes) -> tuple[list[str], float]:
    client = fr.Client(url=url, resilience=fr.Resilience(max_retries=0, standby=False))
    async with client.stream() as stream:
        reader = asyncio.create_task(_drain(stream))
        start = time.monotonic()
        for n, chunk in enumerate(chunks(pcm)):
            await asyncio.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
            await stream.send_audio(chunk)
        ended = time.monotonic()
        await stream.finish()
        events = await reader
    lag = time.monotonic() - ended
    return [e.sentence.text for e in events if isinstance(e, fr.SentenceEvent) and e.is_final], lag


async def capacity_ramp(grammar: bool) -> list[tuple[int, bool, float]]:
    args = ("--grammar", str(GRAMMAR)) if grammar else ()
    rows = []
    with served(*args) as url:
        for sessions in (1, 2, 4, 8, 10, 12, 16, 24):
            ok, lag = await capacity(url, sessions)
            rows.append((sessions, ok, lag))
            if not ok:
                break
    return rows


def render(
    faults: list[Outcome],
    permanent: tuple[str, str, int],
    outage: tuple[str, int, int],
    ramps: dict[str, list[tuple[int, bool, float]]],
) -> str:
    lines = [
        "# Reliability",
        "",
        "Generated by `make reliability` (scripts/reliability_report.py) on "
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, {platform.machine()}; "
        "every figure below was measured in that run. The scenarios are the ones `tests/faults` asserts on.",
        "",
        "## Faults during a stream",
        "",
        f"The 20.3 s long fixture (six sentences) is streamed at {1 / PACE:g}x real time through a fault-injecting "
        f"proxy; the fault strikes at {FAULT_AT_MS / 1000:g} s of audio, mid-way through the second sentence. "
        "Half-open detection uses ping every 0.5 s / pong timeout 1 s (defaults: 5 s / 5 s).",
        "",
        "| fault | what the application observes | reconnects | fault → running again (ms) "
        "| of which reconnecting (ms) | words lost | audio dropped (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in faults:
        observed = "transcript identical to the fault-free run" if o.texts == o.reference else "TRANSCRIPT DIFFERS"
        if o.error is not None:
            observed = f"error: {o.error}"
        if o.reconnects:
            observed += f"; `Reconnected` event ({type(o.reconnects[0].error).__name__})"
        lines.append(
            f"| {o.scenario.what} | {observed} | {len(o.reconnects)} | {o.fault_to_recovery_ms:.0f} | "
            f"{o.recovery_ms:.0f} | {o.words_lost} | {o.dropped_ms} |"
        )
    name, observed, run_tasks = permanent
    outage_name, dropped, reconnects = outage
    lines += [
        "",
        "*Fault → running again* runs from the fault striking to the replacement task running with its audio "
        "replayed (detection included: a black hole is only noticed when a pong is overdue); *reconnecting* "
        "runs from the failure being noticed.",
        "",
        "## Errors that must not be retried, and outages longer than the buffer",
        "",
        "| situation | observed | tasks attempted |",
        "|---|---|---|",
        f"| {name} | {observed} | {run_tasks} |",
        f"| {outage_name} | `Reconnected.dropped_ms` = {dropped} over {reconnects} reconnect(s): "
        "the loss is reported, never silent | — |",
        "",
        "## Mute and silence policy",
        "",
        "A task that receives no audio for `Resilience.idle_finish` (10 s) is finished, so the service's 23 s "
        "inactivity timeout (`CLIENT_ERROR`) is never reached; its trailing results are delivered and the next "
        "audio opens a new task on a live (or re-opened) connection, with the first words buffered meanwhile. "
        "Cost: the service bills the audio it receives, so a mute that sends nothing costs nothing; a task "
        "finished and restarted is billed in whole seconds per task (up to one extra second per mute). "
        "`tests/faults/test_policies.py::test_long_mute_does_not_hit_the_server_inactivity_timeout` checks it.",
        "",
        *TASK_QUOTA,
        "",
        "## Local server limits",
        "",
        "| limit | default |",
        "|---|---|",
    ]
    defaults = ServerConfig()
    for f in fields(ServerConfig):
        if f.name in {"host", "port", "api_key", "engine", "grammar"}:
            continue
        lines.append(f"| `{f.name}` | {getattr(defaults, f.name)} |")
    lines += [
        "",
        "Garbage frames, audio before run-task, oversized messages (close 1009), clients that never read and "
        "half-open clients are answered with task-failed or a close and do not affect other sessions: "
        "`tests/server/test_load.py` runs 100 real-time synthetic sessions with such clients mixed in, with no "
        "words lost and no audio dropped for the well-behaved ones (default client policy).",
        "",
        "## Real-engine capacity (real time, this machine)",
        "",
        "Concurrent sessions each streaming one fixture sentence at real-time pace to one server process; a "
        "level passes when every transcript is exact (grammar) or complete, and every final arrives within 1 s "
        "of the end of audio. pocketsphinx holds the GIL, so one server process uses about one core.",
        "",
        "| engine | sessions | passed | worst final lag (s) |",
        "|---|---|---|---|",
    ]
    for engine, rows in ramps.items():
        lines += [f"| {engine} | {n} | {'yes' if ok else 'no'} | {lag:.2f} |" for n, ok, lag in rows]
    abuse = _abuse_section()
    if abuse:
        lines += ["", abuse.rstrip("\n")]
    lines += ["", "Reproduce: `make reliability`.", ""]
    return "\n".join(lines)


def _abuse_section() -> str:
    """The "Server under abuse" section scripts/soak_server.py last wrote, kept when this report is rewritten."""
    if not OUT.exists():
        return ""
    match = re.search(r"^## Server under abuse\n.*?(?=^## |^Reproduce: |\Z)", OUT.read_text(), re.S | re.M)
    return match.group(0) if match else ""


async def main() -> None:
    with served("--grammar", str(GRAMMAR), "--api-key", KEY) as url:
        faults = await fault_rows(url)
        permanent = await permanent_error_row(url)
        outage = await outage_row(url)
    ramps = {"pocketsphinx + grammar": await capacity_ramp(grammar=True)}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(render(faults, permanent, outage, ramps))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
