"""7. Latency each adapter adds: Pipecat pipeline and LiveKit stream.

Audio enters the framework as 20 ms frames at real time (as a transport delivers them) and
goes to the stub server, which answers every 5th audio message (100 ms) with a partial
whose text carries the stamp of that audio and the server's send time. Per result:

* **frame in**: for Pipecat, when the frame reached the processor just before the STT
  service (a stamping processor writes ``monotonic_ns`` into the frame's first bytes); for
  LiveKit, when ``push_frame`` was called (the stamp is written just before);
* **core send**: when the adapter called the core's ``RecognitionStream.send_audio`` with
  that frame (the worker wraps the method at class level and reads the stamp);
* **core event**: when the core's ``RecognitionStream.events()`` yielded the result to the
  adapter (wrapped likewise);
* **frame out**: when the ``InterimTranscriptionFrame`` passed the processor after the
  service (Pipecat) or the ``SpeechEvent`` came out of the LiveKit stream.

*Adapter* = (core send - frame in) + (frame out - core event): the latency the adapter
and its framework plumbing add on top of the core client, for the same audio. *Total*
= frame out - frame in; *core + server* = core event - core send.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
from pathlib import Path
from typing import Any

from . import plots
from .common import MAGIC, STAMP_BYTES, Context, Row, ServerProcess, fmt, intro, run_worker, summary, table

NAME = "adapters"
TITLE = "7. Latency the adapters add"
FRAME_MS = 20
_TEXT = re.compile(r"bench (\d+) (\d+)")
_STAMP = struct.Struct("<4sq")


def _stamp(pcm: bytes | bytearray | memoryview, at: int) -> bytes:
    return _STAMP.pack(MAGIC, at) + bytes(pcm[STAMP_BYTES:])


class _Probe:
    """Wraps the core stream's ``send_audio`` and ``events`` (class level, this process only)."""

    def __init__(self) -> None:
        import funasr_realtime as fr

        self.sent: dict[int, int] = {}  # audio stamp -> core send_audio called
        self.core_events: dict[int, int] = {}  # server stamp -> core yielded the event
        self.samples: list[dict[str, float]] = []
        stream_class = fr.RecognitionStream
        original_send = stream_class.send_audio
        original_events = stream_class.events
        probe = self

        async def send_audio(self: fr.RecognitionStream, audio: bytes) -> None:
            if audio[:4] == MAGIC:
                probe.sent[_STAMP.unpack_from(audio)[1]] = time.monotonic_ns()
            await original_send(self, audio)

        async def events(self: fr.RecognitionStream) -> Any:
            async for event in original_events(self):
                if isinstance(event, fr.SentenceEvent):
                    match = _TEXT.search(event.sentence.text)
                    if match:
                        probe.core_events[int(match.group(2))] = time.monotonic_ns()
                yield event

        stream_class.send_audio = send_audio  # type: ignore[method-assign]
        stream_class.events = events  # type: ignore[method-assign]

    def out(self, text: str) -> None:
        """A transcription left the framework."""
        at = time.monotonic_ns()
        match = _TEXT.search(text)
        if not match:
            return
        frame_in, server_out = int(match.group(1)), int(match.group(2))
        sent, core = self.sent.get(frame_in), self.core_events.get(server_out)
        if not frame_in or sent is None or core is None:
            return
        self.samples.append(
            {
                "total_ms": (at - frame_in) / 1e6,
                "adapter_ms": ((sent - frame_in) + (at - core)) / 1e6,
                "adapter_send_ms": (sent - frame_in) / 1e6,
                "adapter_receive_ms": (at - core) / 1e6,
                "core_ms": (core - sent) / 1e6,
            }
        )


def _frames(seconds: float) -> list[bytes]:
    from .drivers import speech_frames

    pcm = b"".join(speech_frames())
    size = 16 * 2 * FRAME_MS
    count = round(seconds * 1000 / FRAME_MS)
    return [pcm[(i * size) % (len(pcm) - size) :][:size] for i in range(count)]


async def pipecat_worker(url: str, seconds: float) -> dict[str, Any]:
    try:
        from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame, InterimTranscriptionFrame
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
        from pipecat.workers.runner import WorkerRunner
        from pipecat_funasr_realtime import FunAsrRealtimeSTTService
    except ImportError as exc:
        return {"skipped": f"not importable: {exc}"}

    probe = _Probe()
    warmup = 5

    class Stamper(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                frame.audio = _stamp(frame.audio, time.monotonic_ns())
            await self.push_frame(frame, direction)

    class Sink(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InterimTranscriptionFrame):
                probe.out(frame.text)
            await self.push_frame(frame, direction)

    stt = FunAsrRealtimeSTTService(url=url)
    worker = PipelineWorker(
        Pipeline([Stamper(), stt, Sink()]),
        cancel_on_idle_timeout=False,
        params=PipelineParams(audio_in_sample_rate=16000),
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
    async def _started(worker: Any, frame: Any) -> None:
        started.set()

    async def feed() -> None:
        await asyncio.wait_for(started.wait(), 10)
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        for n, pcm in enumerate(_frames(seconds)):
            await asyncio.sleep(max(0.0, start + n * FRAME_MS / 1000 - loop.time()))
            await worker.queue_frame(InputAudioRawFrame(audio=pcm, sample_rate=16000, num_channels=1))
        await asyncio.sleep(0.3)
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(asyncio.gather(runner.run(), feed()), seconds + 30)
    return {"samples": probe.samples[warmup:]}


async def livekit_worker(url: str, seconds: float) -> dict[str, Any]:
    try:
        from livekit import rtc
        from livekit.agents import stt as lk_stt
        from livekit.plugins import funasr_realtime
    except ImportError as exc:
        return {"skipped": f"not importable: {exc}"}

    probe = _Probe()
    warmup = 5
    plugin = funasr_realtime.STT(url=url)
    stream = plugin.stream()

    async def read() -> None:
        async for event in stream:
            if event.type == lk_stt.SpeechEventType.INTERIM_TRANSCRIPT and event.alternatives:
                probe.out(event.alternatives[0].text)

    reader = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5  # the plugin connects in the background meanwhile
    samples = 16 * FRAME_MS
    for n, pcm in enumerate(_frames(seconds)):
        await asyncio.sleep(max(0.0, start + n * FRAME_MS / 1000 - loop.time()))
        stream.push_frame(rtc.AudioFrame(_stamp(pcm, time.monotonic_ns()), 16000, 1, samples))
    stream.end_input()
    await asyncio.wait_for(reader, 30)
    await stream.aclose()
    await plugin.aclose()
    return {"samples": probe.samples[warmup:]}


def run(ctx: Context) -> dict[str, Any]:
    seconds = 1.0 if ctx.quick else (10.0 if ctx.small else 30.0)
    out: dict[str, Any] = {"seconds": seconds}
    with ServerProcess.stub("--partial-every", "5", cpus=[1]) as server:
        for name in ("pipecat", "livekit"):
            ctx.log(f"adapters: {name}, one stream x {seconds:g} s of 20 ms frames")
            worker = run_worker(
                "adapters", f"{name}_worker", {"url": server.url, "seconds": seconds}, timeout=seconds + 90, cpus=[0]
            )
            out[name] = {"ok": worker.ok, "error": worker.error, **worker.data}
    return out


_LABELS = {"pipecat": "Pipecat `FunAsrRealtimeSTTService`", "livekit": "LiveKit `funasr_realtime.STT` stream"}


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    body = []
    rows = []
    cdf: dict[str, list[float]] = {}
    for name in ("pipecat", "livekit"):
        side = result.get(name, {})
        if not side.get("ok") or side.get("skipped"):
            body.append([_LABELS[name], side.get("skipped") or side.get("error") or "no data", "", "", "", "", ""])
            continue
        samples = side.get("samples", [])

        def col(key: str, samples: list[dict[str, float]] = samples) -> dict[str, float]:
            return summary([s[key] for s in samples])

        adapter, total = col("adapter_ms"), col("total_ms")
        cdf[f"{name}: adapter"] = [s["adapter_ms"] for s in samples]
        cdf[f"{name}: total"] = [s["total_ms"] for s in samples]
        body.append(
            [
                _LABELS[name],
                len(samples),
                f"{fmt(total['p50'], 3)} / {fmt(total['p99'], 3)}",
                f"{fmt(col('core_ms')['p50'], 3)} / {fmt(col('core_ms')['p99'], 3)}",
                f"**{fmt(adapter['p50'], 3)} / {fmt(adapter['p99'], 3)}**",
                f"{fmt(col('adapter_send_ms')['p50'], 3)} / {fmt(col('adapter_send_ms')['p99'], 3)}",
                f"{fmt(col('adapter_receive_ms')['p50'], 3)} / {fmt(col('adapter_receive_ms')['p99'], 3)}",
            ]
        )
        rows.append(
            Row(
                "7",
                f"latency the {name} adapter adds, audio frame in → transcription out, p50 / p99",
                f"{fmt(adapter['p50'], 3)} / {fmt(adapter['p99'], 3)} ms",
                f"total {fmt(total['p50'], 2)} / {fmt(total['p99'], 2)} ms",
            )
        )
    text = [
        intro(__doc__),
        "",
        f"One stream, {result['seconds']:g} s; the first 5 results are dropped (first use). Milliseconds, p50 / p99.",
        "",
        table(
            ["adapter", "n", "total", "core + server", "adapter", "of which send side", "of which receive side"], body
        ),
    ]
    if cdf:
        plot = plots.cdfs(
            plot_dir / "adapters.png", "Adapter latency (frame in → transcription out)", "ms (log)", cdf, logx=True
        )
        text += ["", f"![adapters](bench/{plot.name})"]
    return "\n".join(text), rows
