"""Fun-ASR in a Pipecat pipeline: transcribe a WAV file (or a microphone) through the adapter.

    audio → VADProcessor(Silero) → FunAsrRealtimeSTTService → print transcripts

By default it starts the local server (`funasr-realtime serve`) and streams the bundled
recording at real-time pace: each VAD stop finalizes the Fun-ASR task, so each sentence
prints as soon as the speaker pauses. For the bundled recording the server gets its grammar,
so the transcript is exact; your own --file goes to the general English model (the bundled
grammar would turn any speech into the bundled sentences), or to your --grammar.

    python examples/pipecat_bot.py                        # local server, bundled recording
    python examples/pipecat_bot.py --file my.wav          # local server, general English model
    python examples/pipecat_bot.py --url ws://HOST:PORT/api-ws/v1/inference --speed 4
    python examples/pipecat_bot.py --cloud --file me.wav  # Alibaba Cloud: $DASHSCOPE_API_KEY
    python examples/pipecat_bot.py --live                 # microphone: pip install "pipecat-ai[local]"

Every failure (a missing package, no key, an unreadable file) is one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

try:
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame, MetricsFrame, TranscriptionFrame
    from pipecat.metrics.metrics import TTFBMetricsData
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.workers.runner import WorkerRunner
    from pipecat_funasr_realtime import FunAsrRealtimeSTTService
except ImportError as exc:  # ModuleNotFoundError, or a pipecat without Silero
    sys.exit(
        f'pipecat_bot.py: error: {exc}; from a checkout: pip install -e . -e adapters/pipecat "pipecat-ai[silero]"'
    )

from funasr_realtime import FunAsrError, Reconnected

AUDIO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech" / "long_16k.wav"
GRAMMAR = AUDIO.with_name("sentences.jsgf")
FRAME_MS = 20


class ExampleError(Exception):
    """A failure the example explains in one line."""


@asynccontextmanager
async def local_server(grammar: Path | None) -> AsyncIterator[str]:
    """Run `funasr-realtime serve` (restricted to ``grammar`` if given) and yield its URL."""
    command = [sys.executable, "-m", "funasr_realtime.cli", "serve"]
    if grammar is not None:
        command += ["--grammar", str(grammar)]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        if not line.startswith("listening on "):
            reason = (await asyncio.wait_for(process.stderr.read(), timeout=10)).decode().strip()
            raise ExampleError(f"the local server did not start: {reason or line.strip() or 'no output'}")
        yield line.removeprefix("listening on ").strip()
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def read_wav(path: Path) -> tuple[int, bytes]:
    """The rate and PCM of a mono 16-bit 8 or 16 kHz WAV. Raises ExampleError."""
    try:
        with wave.open(str(path)) as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            pcm = wav.readframes(wav.getnframes())
    except OSError as exc:
        raise ExampleError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (wave.Error, EOFError) as exc:
        raise ExampleError(f"{path} is not a WAV file: {exc}") from None
    if shape[:2] != (1, 2) or shape[2] not in (8000, 16000):
        raise ExampleError(
            f"{path}: need mono 16-bit WAV at 8 or 16 kHz, got {shape[0]} ch, {shape[1] * 8}-bit, {shape[2]} Hz"
        )
    return shape[2], pcm


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


async def transcribe_file(stt: FunAsrRealtimeSTTService, audio: tuple[int, bytes], speed: float) -> list[str]:
    rate, pcm = audio
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
        raise ExampleError('--live needs PyAudio: pip install "pipecat-ai[local]"') from None
    transport = LocalAudioTransport(LocalAudioTransportParams(audio_in_enabled=True))
    pipeline = Pipeline([transport.input(), VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt, PrintTranscripts()])
    print("listening; Ctrl-C to stop")
    runner = WorkerRunner()
    await runner.add_workers(PipelineWorker(pipeline, params=PipelineParams(enable_metrics=True)))
    await runner.run()


def server_grammar(args: argparse.Namespace) -> Path | None:
    """--grammar, else the bundled grammar for the bundled recording only (never for --file or --live)."""
    if args.grammar is not None:
        return Path(args.grammar)
    return GRAMMAR if not args.live and args.file.resolve() == AUDIO else None


async def main(args: argparse.Namespace) -> int:
    if args.cloud and not os.environ.get("DASHSCOPE_API_KEY"):
        raise ExampleError("--cloud needs an API key: set DASHSCOPE_API_KEY (or drop --cloud to use the local server)")
    audio = None if args.live else read_wav(args.file)

    async def run(url: str | None) -> None:
        stt = FunAsrRealtimeSTTService(url=url, model=args.model)

        @stt.event_handler("on_reconnected")
        async def on_reconnected(service: FunAsrRealtimeSTTService, event: Reconnected) -> None:
            # The service also pushes a non-fatal ErrorFrame for a loss; say it here too.
            if event.dropped_ms > 0:
                print(f"warning: {event.dropped_ms} ms of audio were lost to an outage", file=sys.stderr)

        if audio is None:
            await transcribe_microphone(stt)
        else:
            texts = await transcribe_file(stt, audio, args.speed)
            print(f"transcript: {' '.join(texts)}")

    if args.cloud or args.url:
        await run(args.url)
    else:
        grammar = server_grammar(args)
        async with local_server(grammar) as url:
            vocabulary = f"grammar {grammar.name}" if grammar else "general English model"
            print(f"local server: {url} ({vocabulary})", flush=True)
            await run(url)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (default: start the local server)")
    parser.add_argument("--cloud", action="store_true", help="Alibaba Cloud (needs DASHSCOPE_API_KEY)")
    parser.add_argument("--file", type=Path, default=AUDIO, help="mono 8 or 16 kHz WAV (default: bundled)")
    parser.add_argument("--grammar", type=Path, help="JSGF grammar for the local server (default: none for --file)")
    parser.add_argument("--speed", type=float, default=1.0, help="play the file this many times faster")
    parser.add_argument("--model", default="fun-asr-realtime")
    parser.add_argument("--live", action="store_true", help="transcribe the microphone instead")
    return parser.parse_args()


if __name__ == "__main__":
    try:
        raise SystemExit(asyncio.run(main(parse_args())))
    except (ExampleError, FunAsrError) as exc:
        print(f"pipecat_bot.py: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
