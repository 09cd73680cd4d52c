"""6. First package delay: pre-warmed connection versus cold connect.

The stub server answers every audio frame with a partial, so the first result measures the
connection and the protocol, not speech onset. Per attempt a new stream:

* **cold**: the first ``send_audio`` happens on a stream with no connection: the client
  connects (TCP + WebSocket handshake), sends run-task, waits for task-started, then sends
  the buffered audio;
* **warm**: ``await stream.connect()`` first (what the adapters do when the pipeline or the
  agent starts), then the same audio.

Measured: first ``send_audio`` → first result with text reaching the application (wall),
and the client's own ``TaskMetrics.first_package_delay_ms`` (first audio *sent on the
socket* → first result, so it excludes the connect) and ``acquire_ms``. The official SDK
always connects at ``start()``; its own ``get_first_package_delay()`` (first
``send_audio_frame`` → first result with text) is beside it, with frames sent
immediately after ``start()`` (cold) and after waiting 0.5 s (its connection is then
open, so the SDK's fairest warm case).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from . import plots
from .common import FRAME_S, Context, Row, ServerProcess, fmt, fmt_ratio, intro, run_worker, summary, table
from .drivers import frame_at, speech_frames

NAME = "prewarm"
TITLE = "6. First package delay, pre-warmed versus cold"


async def ours_worker(url: str, repeats: int) -> dict[str, Any]:
    import funasr_realtime as fr

    speech_frames()
    client = fr.Client(url=url)
    out: dict[str, list[dict[str, float | None]]] = {"cold": [], "warm": []}
    for attempt in range(repeats + 1):  # attempt 0 warms code paths and is dropped
        for mode in ("cold", "warm"):
            stream = client.stream()
            if mode == "warm":
                await stream.connect()
                await asyncio.sleep(0.05)
            first = asyncio.get_running_loop().create_future()

            async def read(stream: fr.RecognitionStream = stream, first: asyncio.Future[float] = first) -> None:
                async for event in stream:
                    if isinstance(event, fr.SentenceEvent) and event.sentence.text and not first.done():
                        first.set_result(time.monotonic())

            reader = asyncio.create_task(read())
            started = time.monotonic()
            for n in range(20):
                await stream.send_audio(frame_at(n, time.monotonic_ns()))
                try:
                    await asyncio.wait_for(asyncio.shield(first), FRAME_S)
                    break
                except TimeoutError:
                    continue
            wall = (await asyncio.wait_for(first, 5.0) - started) * 1000
            await stream.finish(timeout=10)
            await reader
            metrics = stream.completed[0]
            if attempt:
                out[mode].append(
                    {"wall_ms": wall, "fpd_ms": metrics.first_package_delay_ms, "acquire_ms": metrics.acquire_ms}
                )
    return out


def sdk_first_results(
    url: str, frames_of: Callable[[int], Sequence[bytes]], *, repeats: int, warm_s: float, wait_s: float
) -> dict[str, list[dict[str, float | None]]]:
    """The official SDK's first ``send_audio_frame`` → first result with text, cold and warm.

    Per attempt, ``frames_of(attempt)`` is streamed at real time until a result with text
    comes (then at most ``wait_s`` more for it). *cold*: frames right after ``start()``
    (the SDK connects there); *warm*: after ``warm_s`` of waiting, its connection and task
    then open (the SDK's fairest warm case). Attempt 0 warms code paths and is dropped.
    """
    import threading

    import dashscope
    from dashscope.audio.asr import Recognition, RecognitionCallback, RecognitionResult

    dashscope.base_websocket_api_url = url
    dashscope.api_key = "x"
    out: dict[str, list[dict[str, float | None]]] = {"cold": [], "warm": []}
    for attempt in range(repeats + 1):
        frames = frames_of(attempt)
        for mode in ("cold", "warm"):
            got = threading.Event()
            at: list[float] = []

            class Callback(RecognitionCallback):
                def on_event(self, result: RecognitionResult, got: threading.Event = got, at: list[float] = at) -> None:
                    if cast(Any, result.get_sentence()).get("text") and not got.is_set():
                        at.append(time.monotonic())
                        got.set()

            recognition: Any = Recognition(
                model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=Callback()
            )
            recognition.start()
            if mode == "warm":
                time.sleep(warm_s)
            started = time.monotonic()
            for n, frame in enumerate(frames):
                if n and got.wait(max(0.0, started + n * FRAME_S - time.monotonic())):
                    break
                recognition.send_audio_frame(frame)
            got.wait(wait_s)
            recognition.stop()
            if attempt and at:
                out[mode].append({"wall_ms": (at[0] - started) * 1000, "fpd_ms": recognition.get_first_package_delay()})
    return out


def sdk_worker(url: str, repeats: int) -> dict[str, Any]:
    """:func:`sdk_first_results` on stamped frames of the looped speech (2 s at the most)."""
    speech_frames()
    return sdk_first_results(
        url, lambda _: [frame_at(n, time.monotonic_ns()) for n in range(20)], repeats=repeats, warm_s=0.5, wait_s=5.0
    )


def run(ctx: Context) -> dict[str, Any]:
    repeats = 2 if ctx.quick else (10 if ctx.small else 30)
    out: dict[str, Any] = {"repeats": repeats}
    with ServerProcess.stub("--partial-every", "1", cpus=[1]) as server:
        for name, function in (("ours", "ours_worker"), ("sdk", "sdk_worker")):
            ctx.log(f"prewarm: {name}, {repeats} cold and warm starts")
            worker = run_worker(
                "prewarm", function, {"url": server.url, "repeats": repeats}, timeout=60 + 3 * repeats, cpus=[0]
            )
            out[name] = {"ok": worker.ok, "error": worker.error, **worker.data}
    return out


def _values(side: dict[str, Any], mode: str, key: str) -> list[float]:
    return [s[key] for s in side.get(mode, []) if s.get(key) is not None]


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    ours, sdk = result["ours"], result["sdk"]
    body = []
    stats: dict[tuple[str, str, str], dict[str, float]] = {}
    for name, side in (("funasr-realtime", ours), ("dashscope SDK", sdk)):
        for mode in ("cold", "warm"):
            wall = summary(_values(side, mode, "wall_ms"))
            fpd = summary(_values(side, mode, "fpd_ms"))
            acquire = summary(_values(side, mode, "acquire_ms"))
            stats[(name, mode, "wall")] = wall
            body.append(
                [
                    name,
                    mode,
                    wall["count"],
                    f"{fmt(wall['p50'], 2)} / {fmt(wall['p90'], 2)}",
                    f"{fmt(fpd['p50'], 2)} / {fmt(fpd['p90'], 2)}",
                    fmt(acquire["p50"], 2) if acquire["count"] else "—",
                ]
            )
    cold, warm = stats[("funasr-realtime", "cold", "wall")], stats[("funasr-realtime", "warm", "wall")]
    sdk_cold, sdk_warm = stats[("dashscope SDK", "cold", "wall")], stats[("dashscope SDK", "warm", "wall")]
    plot = plots.cdfs(
        plot_dir / "prewarm.png",
        "First send_audio → first result (wall)",
        "ms (log)",
        {
            "funasr-realtime warm": _values(ours, "warm", "wall_ms"),
            "funasr-realtime cold": _values(ours, "cold", "wall_ms"),
            "SDK (connected 0.5 s before)": _values(sdk, "warm", "wall_ms"),
            "SDK cold": _values(sdk, "cold", "wall_ms"),
        },
        logx=True,
    )
    text = [
        intro(__doc__),
        "",
        f"{result['repeats']} attempts per case (one more at the start, dropped).",
        "",
        table(
            ["client", "start", "n", "wall p50 / p90 ms", "first_package_delay p50 / p90 ms", "acquire p50 ms"], body
        ),
        "",
        f"Pre-warming saves {fmt(cold['p50'] - warm['p50'], 2)} ms at p50 on loopback "
        f"({fmt_ratio(cold['p50'] / warm['p50'])}); against Alibaba Cloud the saving is the TCP + TLS + WebSocket "
        "handshakes and the run-task round trip: several network round trips, typically tens to hundreds of "
        "milliseconds.",
        "",
        f"![prewarm](bench/{plot.name})",
    ]
    for name, side in (("ours", ours), ("SDK", sdk)):
        if not side.get("ok"):
            text += ["", f"{name} run failed: {side.get('error')}"]
    rows = [
        Row(
            "6",
            "first send → first result, p50: pre-warmed vs cold connect",
            f"warm {fmt(warm['p50'], 2)} ms / cold {fmt(cold['p50'], 2)} ms",
            f"SDK cold {fmt(sdk_cold['p50'], 1)} ms, connected {fmt(sdk_warm['p50'], 1)} ms",
            f"{fmt_ratio(cold['p50'] / warm['p50'])} vs cold; {fmt_ratio(sdk_cold['p50'] / warm['p50'])} vs SDK",
        )
    ]
    return "\n".join(text), rows
