"""Profiles and the hot path: where the client's CPU goes, and what is left to change.

* **Profiles**: py-spy (``py-spy record --format raw``, 500 Hz, from outside the process)
  attaches to the client worker once its streams are connected and streaming (steady state
  only: no connects, no imports), for the CPU benchmark's load (100 real-time streams,
  defaults) and the concurrency benchmark's target (1000 streams, no standby), against the
  stub server. Shares are of busy samples (epoll waits left out); see ``bench/profiling.py``
  for the three attributions.
* **Micro-timings**: the per-call cost of the hot operations, back to back (warm caches:
  lower than in a real-time stream, where every frame finds the caches cold), against
  what ``websockets`` alone costs for the same job.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from .common import Context, Row, ServerProcess, cpu_seconds, fmt, intro, run_worker, table
from .profiling import hot_spots

NAME = "hotpath"
TITLE = "Profiles and the hot path"


async def micro_worker(url: str, calls: int) -> dict[str, Any]:
    import websockets

    import funasr_realtime as fr
    from funasr_realtime.protocol import ClientProtocol, RecognitionParams, ReplayBuffer, Sentence
    from funasr_realtime.protocol.messages import ResultGenerated, decode_server_event

    from .common import stamped_frame

    frame = stamped_frame(0)
    out: dict[str, float] = {}

    async def per_call(send: Any) -> float:
        for _ in range(50):
            await send(frame)
        best = float("inf")
        for _ in range(5):
            cpu = cpu_seconds()
            for i in range(calls):
                await send(frame)
                if i % 50 == 0:
                    await asyncio.sleep(0)  # let the reader drain
            best = min(best, (cpu_seconds() - cpu) / calls * 1e6)
        return best

    out["task_start_us"] = await _task_starts(url, frame, streams=max(10, calls // 10))

    # Budgets lifted: thousands of frames back to back would otherwise fill the 20 s replay
    # buffer (the stub sends no final) and the calls would measure pacing, not the write.
    unpaced = fr.Resilience(standby=False, replay_seconds=1e6, max_lead=1e6)
    stream = fr.Client(url=url, resilience=unpaced).stream()
    await stream.connect()
    reader = asyncio.create_task(_drain(stream))
    out["send_audio_us"] = await per_call(stream.send_audio)
    await stream.finish(timeout=30)
    await reader

    ws = await websockets.connect(url, compression=None)
    protocol = ClientProtocol()
    await ws.send(protocol.run_task(RecognitionParams()))
    await ws.recv()
    drain = asyncio.create_task(_drain_ws(ws))
    out["websockets_send_us"] = await per_call(ws.send)

    async def write_now(data: bytes) -> None:  # what a flattened hot path would do: no coroutine chain
        ws.protocol.send_binary(data)
        ws.send_data()

    out["websockets_sync_write_us"] = await per_call(write_now)
    await ws.close()
    await drain

    partial = ResultGenerated(
        "0586e1aa3e44ce59aeb10e4714779de0",
        Sentence(text="please book a table", sentence_end=False, sentence_id=1, heartbeat=False),
        None,
    ).encode()
    n = 10 * calls
    out["decode_result_us"] = min(timeit.repeat(lambda: decode_server_event(partial), number=n, repeat=5)) / n * 1e6
    out["json_loads_us"] = min(timeit.repeat(lambda: json.loads(partial), number=n, repeat=5)) / n * 1e6

    def replay() -> None:
        buffer = ReplayBuffer(640000)
        for _ in range(200):
            buffer.append(frame)

    rounds = max(1, calls // 20)
    out["replay_append_us"] = min(timeit.repeat(replay, number=rounds, repeat=5)) / rounds / 200 * 1e6
    buffers = 100 if calls < 1000 else 1000
    out["interleaved_append_us"] = _interleaved_appends([ReplayBuffer(640000) for _ in range(buffers)], frame)
    out["interleaved_bytearray_us"] = _interleaved_appends([_GrowingBytes() for _ in range(buffers)], frame)
    return out


class _GrowingBytes(bytearray):
    """The replay buffer's former storage: one bytearray grown a frame at a time."""

    def append(self, audio: bytes) -> None:  # type: ignore[override]
        self += audio


def _interleaved_appends(held: list[Any], frame: bytes) -> float:
    """µs per append with many buffers growing side by side, as under many real-time streams."""
    cpu = cpu_seconds()
    for _ in range(100):  # 10 s of audio each
        for buffer in held:
            buffer.append(frame)
    return (cpu_seconds() - cpu) / (100 * len(held)) * 1e6


async def _task_starts(url: str, frame: bytes, *, streams: int) -> float:
    """CPU µs per task start: first audio on a connected stream until its task streams."""
    import funasr_realtime as fr

    client = fr.Client(url=url, resilience=fr.Resilience(standby=False))
    opened = [client.stream() for _ in range(streams)]
    await asyncio.gather(*(s.connect() for s in opened))
    readers = [asyncio.create_task(_drain(s)) for s in opened]
    await asyncio.sleep(0.2)

    def started() -> bool:
        return all(s.connections and s.connections[0].protocol.state.value == "streaming" for s in opened)

    cpu = cpu_seconds()
    for s in opened:
        await s.send_audio(frame)
    for _ in range(2000):  # bounded: 10 s at most
        if started():
            break
        await asyncio.sleep(0.005)  # (polling costs far less than the starts it waits for)
    spent = cpu_seconds() - cpu
    await asyncio.gather(*(s.finish(timeout=30) for s in opened))
    await asyncio.gather(*readers)
    return spent / streams * 1e6


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


async def _drain_ws(ws: Any) -> None:
    import websockets

    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass


def run(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"profiles": []}
    with ServerProcess.stub("--partial-every", "5", cpus=[1]) as server:
        ctx.log("hot path: micro-timings")
        calls = 200 if ctx.quick else 2000
        worker = run_worker("hotpath", "micro_worker", {"url": server.url, "calls": calls}, timeout=120, cpus=[0])
        out["micro"] = {"ok": worker.ok, "error": worker.error, **worker.data}
        if not ctx.profile:
            return out
        plans = [("the CPU benchmark's load", 100, True), ("the concurrency target", 1000, False)]
        seconds = 8.0 if ctx.small else 20.0
        for label, streams, standby in plans:
            ctx.log(f"hot path: py-spy profile, {streams} streams")
            raw = Path(tempfile.gettempdir()) / f"funasr-bench-profile-{streams}-{time.time_ns()}.txt"
            args = {"url": server.url, "streams": streams, "seconds": seconds, "standby": standby}
            worker = run_worker(
                "drivers", "ours", args, timeout=180, cpus=[0], profile=raw, profile_seconds=seconds - 1
            )
            profile: dict[str, Any] = {"label": label, "streams": streams, "standby": standby}
            if raw.exists():
                profile |= hot_spots(raw, top=15)
                raw.unlink()
            else:
                profile["error"] = worker.error or "py-spy wrote nothing"
            profile["cpu_ms_per_stream_second"] = (
                1000 * worker.data["cpu_s"] / (streams * seconds) if worker.ok and worker.data.get("cpu_s") else None
            )
            out["profiles"].append(profile)
    return out


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    text = [intro(__doc__), ""]
    micro = result.get("micro", {})
    if micro.get("ok"):
        text += [
            "### Micro-timings (µs of CPU per call, best of 5, warm)",
            "",
            table(
                ["operation", "funasr-realtime", "websockets alone / stdlib", "difference"],
                [
                    [
                        "send one 100 ms frame",
                        fmt(micro["send_audio_us"], 1),
                        f"{fmt(micro['websockets_send_us'], 1)} (`ws.send`)",
                        fmt(micro["send_audio_us"] - micro["websockets_send_us"], 1),
                    ],
                    [
                        "send one frame with no coroutine chain (websockets `protocol.send_binary` + `send_data`)",
                        "—",
                        fmt(micro.get("websockets_sync_write_us"), 1),
                        "—",
                    ],
                    [
                        "decode a partial result",
                        fmt(micro["decode_result_us"], 1),
                        f"{fmt(micro['json_loads_us'], 1)} (`json.loads` alone)",
                        fmt(micro["decode_result_us"] - micro["json_loads_us"], 1),
                    ],
                    ["append a frame to the replay buffer (one buffer)", fmt(micro["replay_append_us"], 2), "—", "—"],
                    [
                        "start a task (first audio on a connected stream → streaming)",
                        fmt(micro.get("task_start_us"), 0),
                        "—",
                        "—",
                    ],
                    [
                        "append a frame, 1000 buffers growing side by side",
                        fmt(micro.get("interleaved_append_us"), 2),
                        f"{fmt(micro.get('interleaved_bytearray_us'), 2)} (one growing `bytearray` each, "
                        "the former storage)",
                        fmt(micro.get("interleaved_append_us", 0) - micro.get("interleaved_bytearray_us", 0), 2),
                    ],
                ],
            ),
            "",
        ]
    for profile in result.get("profiles", []):
        title = f"### Profile: {profile['label']} ({profile['streams']} streams, "
        title += f"{'standby on' if profile['standby'] else 'no standby'})"
        if not profile.get("samples"):
            text += [title, "", f"No samples: {profile.get('error', '?')}", ""]
            continue
        text += [
            title,
            "",
            f"{profile['samples']} busy samples; client CPU {fmt(profile.get('cpu_ms_per_stream_second'), 2)} ms "
            "per stream-second under the profiler.",
            "",
            table(
                ["layer (innermost known caller)", "share of busy time"],
                [[n, f"{s:.1%}"] for n, s in profile["layers"]],
            ),
            "",
        ]
        rows = []
        for i in range(max(len(profile["self"]), len(profile["ours"]))):
            own = profile["self"][i] if i < len(profile["self"]) else ("", 0.0)
            lib = profile["ours"][i] if i < len(profile["ours"]) else ("", 0.0)
            rows.append(
                [
                    f"`{own[0]}`" if own[0] else "",
                    f"{own[1]:.1%}" if own[0] else "",
                    f"`{lib[0]}`" if lib[0] else "",
                    f"{lib[1]:.1%}" if lib[0] else "",
                ]
            )
        text += [table(["self: function", "share", "funasr_realtime, inclusive", "share"], rows), ""]
    return "\n".join(text), []
