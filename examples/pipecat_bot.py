"""Fun-ASR in a Pipecat pipeline: transcribe a WAV file (or a microphone) through the adapter.

    audio → VADProcessor(Silero) → FunAsrRealtimeSTTService → print transcripts

By default it starts the local server (`funasr-realtime serve`, with the recording's grammar
so the transcript is exact) and streams the bundled recording at real-time pace: each VAD
stop finalizes the Fun-ASR task, so each sentence prints as soon as the speaker pauses.

    python examples/pipecat_bot.py                        # local server, bundled recording
    python examples/pipecat_bot.py --url ws://HOST:PORT/api-ws/v1/inference --speed 4
    python examples/pipecat_bot.py --cloud --file me.wav  # Alibaba Cloud: $DASHSCOPE_API_KEY
    python examples/pipecat_bot.py --live                 # microphone: pip install "pipecat-ai[local]"
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame, MetricsFrame, TranscriptionFrame
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner
from pipecat_funasr_realtime import FunAsrRealtimeSTTService

from funasr_realtime import Reconnected

AUDIO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech" / "long_16k.wav"
GRAMMAR = AUDIO.with_name("sentences.jsgf")
FRAME_MS = 20


@asynccontextmanager
async def local_server() -> AsyncIterator[str]:
    """Run `funasr-realtime serve` (exact transcripts of the bundled recording) and yield its URL."""
    command = [sys.executable, "-m", "funasr_realtime.cli", "serve", "--grammar", str(GRAMMAR)]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.removeprefix("listening on ").strip()
    finally:
        process.terminate()
        await process.wait()


class PrintTranscripts(FrameProcessor):
    """Prints each final transcript with its times (stream seconds) and its latency."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            s = frame.result
            mark = "finalized" if frame.finalized else "final"
            print(f"[{s.begin_time / 1000:6.2f}s - {(s.end_time or 0) / 1000:6.2f}s] ({mark}) {frame.text}", flush=True)
            self.texts.append(frame.text)
        elif isinstance(frame, MetricsFrame):
            for data in frame.data:
                if isinstance(data, TTFBMetricsData) and data.value > 0:
                    print(f"    end of speech -> transcript: {data.value * 1000:.0f} ms", flush=True)
        await self.push_frame(frame, direction)


async def transcribe_file(stt: FunAsrRealtimeSTTService, path: Path, speed: float) -> list[str]:
    with wave.open(str(path)) as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    printer = PrintTranscripts()
    pipeline = Pipeline([VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt, printer])
    params = PipelineParams(audio_in_sample_rate=rate, enable_metrics=True, enable_usage_metrics=True)
    worker = PipelineWorker(pipeline, params=params, cancel_on_idle_timeout=False)
    playing: list[asyncio.Task[None]] = []

    @worker.event_handler("on_pipeline_started")
    async def feed(worker: PipelineWorker, frame: Frame) -> None:
        async def play() -> None:  # a microphone: one frame every FRAME_MS (divided by speed)
            size = rate * 2 * FRAME_MS // 1000
            start = asyncio.get_running_loop().time()
            for n, offset in enumerate(range(0, len(pcm), size)):
                await asyncio.sleep(max(0.0, start + n * FRAME_MS / 1000 / speed - asyncio.get_running_loop().time()))
                chunk = pcm[offset : offset + size]
                await worker.queue_frame(InputAudioRawFrame(audio=chunk, sample_rate=rate, num_channels=1))
            await worker.queue_frame(EndFrame())  # graceful: the last words are kept

        playing.append(asyncio.create_task(play()))

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
    return printer.texts


async def transcribe_microphone(stt: FunAsrRealtimeSTTService) -> None:
    try:
        from pipecat.transports.local.audio import LocalAudioTransport, LocalAudioTransportParams
    except ImportError:
        sys.exit('--live needs PyAudio: pip install "pipecat-ai[local]"')
    transport = LocalAudioTransport(LocalAudioTransportParams(audio_in_enabled=True))
    pipeline = Pipeline([transport.input(), VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt, PrintTranscripts()])
    print("listening; Ctrl-C to stop")
    runner = WorkerRunner()
    await runner.add_workers(PipelineWorker(pipeline, params=PipelineParams(enable_metrics=True)))
    await runner.run()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (default: start the local server)")
    parser.add_argument("--cloud", action="store_true", help="Alibaba Cloud (needs DASHSCOPE_API_KEY)")
    parser.add_argument("--file", type=Path, default=AUDIO, help="mono 8 or 16 kHz WAV (default: bundled)")
    parser.add_argument("--speed", type=float, default=1.0, help="play the file this many times faster")
    parser.add_argument("--model", default="fun-asr-realtime")
    parser.add_argument("--live", action="store_true", help="transcribe the microphone instead")
    args = parser.parse_args()

    async def run(url: str | None) -> None:
        stt = FunAsrRealtimeSTTService(url=url, model=args.model)

        @stt.event_handler("on_reconnected")
        async def on_reconnected(service: FunAsrRealtimeSTTService, event: Reconnected) -> None:
            # The service also pushes a non-fatal ErrorFrame for a loss; say it here too.
            if event.dropped_ms > 0:
                print(f"warning: {event.dropped_ms} ms of audio were lost to an outage", file=sys.stderr)

        if args.live:
            await transcribe_microphone(stt)
        else:
            texts = await transcribe_file(stt, args.file, args.speed)
            print(f"transcript: {' '.join(texts)}")

    if args.cloud or args.url:
        await run(args.url)
    else:
        async with local_server() as url:
            print(f"local server: {url}", flush=True)
            await run(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
