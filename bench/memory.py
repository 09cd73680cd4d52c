"""3. Memory per stream: RSS growth per added stream holding 5 s of unfinalized audio.

A worker process opens streams in steps; every stream connects and hands in 5 s of audio
(50 frames of 100 ms) that is never finalized: the stub server sends no result, so our
replay buffer keeps all of it (160 kB per stream at 16 kHz) as it would while a user speaks.
After each step the worker collects garbage, waits for the sockets to drain and reads its
RSS; the slope of RSS over the number of streams (least squares) is the cost per stream.
Ours runs with its defaults (a standby connection per stream: two sockets each). The SDK
gets the same audio through ``send_audio_frame``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import Any

from . import plots
from .common import Context, Row, ServerProcess, fmt, fmt_ratio, intro, rss_bytes, run_worker, slope, table
from .drivers import frame_at, speech_frames

NAME = "memory"
TITLE = "3. Memory per stream"
TARGET_MB = 1.0
TARGET_NON_AUDIO_KB = 60.0  # issue 17: a stream's non-audio cost, to beat the SDK's whole stream with replay on
AUDIO_S = 5.0
PCM_BYTES_PER_MS = 32  # 16 kHz, 16-bit mono


def _plan(ctx: Context) -> dict[str, Any]:
    if ctx.quick:
        return {"ours": [0, 2], "sdk": [0, 2]}
    if ctx.small:
        return {"ours": [0, 25, 50, 100], "sdk": [0, 10, 25, 50]}
    return {"ours": [0, 50, 100, 200, 400, 800], "sdk": [0, 25, 50, 100, 200]}


def _settle() -> int:
    gc.collect()
    return rss_bytes()


async def ours_worker(url: str, steps: list[int], standby: bool = True) -> dict[str, Any]:
    import funasr_realtime as fr

    speech_frames()
    client = fr.Client(url=url, resilience=fr.Resilience(standby=standby))
    count = round(AUDIO_S * 10)
    # One stream first, finished and closed: code paths, lazy imports and caches are warm,
    # so the steps measure streams, not first use.
    warm = client.stream()
    await warm.connect()
    for n in range(5):
        await warm.send_audio(frame_at(n, 0))
    await warm.finish(timeout=10)
    streams: list[fr.RecognitionStream] = []
    points = []
    held = []
    for target in steps:
        while len(streams) < target:
            batch = [client.stream() for _ in range(min(50, target - len(streams)))]
            await asyncio.gather(*(s.connect() for s in batch))
            for stream in batch:
                # A new bytes object per frame and stream, as from a microphone or transport:
                # the replay buffer keeps the frames it is handed without copying them, so
                # frames shared between streams would hide its memory.
                for n in range(count):
                    await stream.send_audio(frame_at(n, 0))
                await asyncio.sleep(0)
            streams.extend(batch)
        await asyncio.sleep(0.5 if target < 50 else 1.0)  # the feeders and sockets drain
        points.append((len(streams), _settle()))
        held.append(sum(s.audio_ms for s in streams) / max(1, len(streams)))
    sockets = sum(len(s.connections) for s in streams)
    await asyncio.gather(*(s.aclose() for s in streams))
    return {"points": points, "audio_ms_per_stream": held, "sockets": sockets, "threads": threading.active_count()}


def sdk_worker(url: str, steps: list[int]) -> dict[str, Any]:
    import dashscope
    from dashscope.audio.asr import Recognition, RecognitionCallback

    dashscope.base_websocket_api_url = url
    dashscope.api_key = "x"
    speech_frames()
    count = round(AUDIO_S * 10)
    warm: Any = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=RecognitionCallback())
    warm.start()
    for n in range(5):
        warm.send_audio_frame(frame_at(n, 0))
    warm.stop()
    recognitions: list[Any] = []
    points = []
    for target in steps:
        while len(recognitions) < target:
            recognition = Recognition(
                model="fun-asr-realtime", format="pcm", sample_rate=16000, callback=RecognitionCallback()
            )
            recognition.start()
            for n in range(count):  # new frames per stream, as for ours
                recognition.send_audio_frame(frame_at(n, 0))
            recognitions.append(recognition)
        time.sleep(1.0 if target < 50 else 2.0)  # its senders poll every 10 ms: let every thread send
        points.append((len(recognitions), _settle()))
    threads = threading.active_count()
    return {"points": points, "threads": threads}


def run(ctx: Context) -> dict[str, Any]:
    plan = _plan(ctx)
    out: dict[str, Any] = {"audio_s": AUDIO_S}
    with ServerProcess.stub("--partial-every", "0", cpus=[1]) as server:
        ctx.log(f"memory: ours, steps {plan['ours']}")
        worker = run_worker("memory", "ours_worker", {"url": server.url, "steps": plan["ours"]}, timeout=300, cpus=[0])
        out["ours"] = {"ok": worker.ok, "error": worker.error, **worker.data}
        ctx.log(f"memory: SDK, steps {plan['sdk']}")
        worker = run_worker("memory", "sdk_worker", {"url": server.url, "steps": plan["sdk"]}, timeout=300, cpus=[0])
        out["sdk"] = {"ok": worker.ok, "error": worker.error, **worker.data}
    return out


def per_stream_mb(side: dict[str, Any]) -> float:
    points = side.get("points") or []
    if len(points) < 2:
        return float("nan")
    return slope([p[0] for p in points], [p[1] for p in points]) / 2**20


def non_audio_kb(per_stream_mb: float, audio_ms: float) -> float:
    """What a stream costs besides the PCM its replay buffer holds (kB): the part the design can shrink."""
    return per_stream_mb * 1024 - audio_ms * PCM_BYTES_PER_MS / 1024


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    ours, sdk = result["ours"], result["sdk"]
    ours_mb, sdk_mb = per_stream_mb(ours), per_stream_mb(sdk)
    body = []
    for name, side in (("funasr-realtime", ours), ("dashscope SDK", sdk)):
        for n, rss in side.get("points", []):
            body.append([name, n, fmt(rss / 2**20, 1)])
    plot = plots.lines(
        plot_dir / "memory.png",
        f"Client RSS with {result['audio_s']:g} s of unfinalized audio per stream",
        "open streams",
        "RSS (MB)",
        {
            "funasr-realtime": ([p[0] for p in ours.get("points", [])], [p[1] / 2**20 for p in ours.get("points", [])]),
            "dashscope SDK": ([p[0] for p in sdk.get("points", [])], [p[1] / 2**20 for p in sdk.get("points", [])]),
        },
    )
    held = ours.get("audio_ms_per_stream") or [0]
    besides_kb = non_audio_kb(ours_mb, held[-1])
    text = [
        intro(__doc__).replace("\n", " "),
        "",
        f"**funasr-realtime: {fmt(ours_mb * 1024, 0)} kB per stream** (slope; "
        f"{ours.get('sockets', '?')} sockets for the last step, audio handed in per stream "
        f"{fmt(held[-1], 0)} ms, of which {fmt(held[-1] * PCM_BYTES_PER_MS / 1024, 0)} kB of PCM is the "
        f"replay buffer: **{fmt(besides_kb, 0)} kB besides the audio**). "
        f"**SDK: {fmt(sdk_mb * 1024, 0)} kB per stream** ({sdk.get('threads', '?')} threads at the last step; "
        "it keeps no audio).",
        "",
        table(["client", "streams", "RSS MB"], body),
        "",
        f"![memory](bench/{plot.name})",
    ]
    for name, side in (("ours", ours), ("SDK", sdk)):
        if not side.get("ok"):
            text += ["", f"{name} run failed: {side.get('error')}"]
    summary = [
        Row(
            "3",
            f"RSS per added stream with {result['audio_s']:g} s of unfinalized audio",
            f"{fmt(ours_mb * 1024, 0)} kB",
            f"SDK {fmt(sdk_mb * 1024, 0)} kB",
            fmt_ratio(sdk_mb / ours_mb if ours_mb else float("nan")),
            f"< {TARGET_MB:g} MB",
            ours_mb < TARGET_MB,
        ),
        Row(
            "3",
            "RSS per added stream besides its audio (slope minus the PCM held)",
            f"{fmt(besides_kb, 0)} kB",
            f"SDK {fmt(sdk_mb * 1024, 0)} kB (no audio)",
            fmt_ratio(sdk_mb * 1024 / besides_kb if besides_kb > 0 else float("nan")),
            f"< {TARGET_NON_AUDIO_KB:g} kB",
            # Below zero is a slope within page noise (a --quick run of two streams): not a figure.
            besides_kb < TARGET_NON_AUDIO_KB if besides_kb > 0 else None,
        ),
    ]
    return "\n".join(text), summary
