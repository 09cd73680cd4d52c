"""``funasr-realtime transcribe FILE...``: stream files and write their transcripts.

Each file is checked against its format first (all of them, before anything is sent), then
streamed as it is (pcm, wav, mp3, opus, speex, aac, amr pass through; the service decodes)
in about 100 ms frames, at full speed or, with ``--realtime``, paced like a live source.
The transcript goes to stdout (or ``--output-dir``) as txt, json, srt or vtt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client import Client, RecognitionStream, SentenceEvent, TaskCompleted
from ..compat.audiofile import AudioFile, format_from_suffix, probe, sniff
from ..protocol import AUDIO_FORMATS, AudioError, FunAsrError, RecognitionParams, check_compatibility
from ._common import add_client_options, default_sample_rate, make_client
from .display import QuietView, make_view
from .output import FORMATS, Transcript, render

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)

# Beyond the stop timeout, how long the service may take per second of audio sent at full speed.
_DRAIN_S_PER_AUDIO_S = 1.0


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "transcribe",
        help="transcribe audio files",
        description="Stream audio files to Fun-ASR (or a local server) and print their transcripts.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files")
    add_client_options(parser)
    parser.add_argument("--format", choices=AUDIO_FORMATS, help="audio format (default: from the name or content)")
    parser.add_argument("--output", choices=FORMATS, default="txt", help="transcript format (default txt)")
    parser.add_argument("--output-dir", type=Path, help="write FILE-STEM.FORMAT there instead of to stdout")
    parser.add_argument("--realtime", action="store_true", help="send audio at real-time pace, like a live source")
    parser.set_defaults(run=run)


@dataclass(frozen=True, slots=True)
class Job:
    audio: AudioFile
    params: RecognitionParams


def run(args: argparse.Namespace) -> int:
    jobs = [plan(path, args) for path in args.files]
    client = make_client(args)
    view = make_view(_interactive())
    try:
        asyncio.run(_transcribe_all(client, jobs, args, view))
    finally:
        view.close()
    return 0


def plan(path: Path, args: argparse.Namespace) -> Job:
    """Check one file and decide its parameters. Raises OSError, AudioError or ConfigurationError."""
    format = args.format or format_from_suffix(path) or _sniff_file(path)
    if format is None:
        raise AudioError(f"{path}: cannot tell the audio format; pass --format")
    rate = args.sample_rate or (_wav_rate(path) if format == "wav" else None) or default_sample_rate(args.model)
    audio = probe(path, format, rate)
    if args.realtime and audio.duration_ms is None:
        raise AudioError(f"{path}: --realtime needs the duration, which this file's headers do not give")
    hints = (args.language,) if args.language else None
    params = RecognitionParams(model=args.model, format=format, sample_rate=rate, language_hints=hints)
    check_compatibility(params, region=None)  # rate and language now; the region once connected
    return Job(audio, params)


async def _transcribe_all(client: Client, jobs: list[Job], args: argparse.Namespace, view: QuietView) -> None:
    for job in jobs:
        transcript = await transcribe(client, job, view, realtime=args.realtime)
        document = render(args.output, transcript)
        if args.output_dir is not None:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            (args.output_dir / f"{job.audio.path.stem}.{args.output}").write_text(document, encoding="utf-8")
        elif len(jobs) > 1:
            view.emit(f"==> {job.audio.path} <==\n{document}")
        else:
            view.emit(document)


async def transcribe(client: Client, job: Job, view: QuietView, *, realtime: bool = False) -> Transcript:
    """Stream one file and collect its final sentences. Raises the stream's error."""
    audio = job.audio
    transcript = Transcript(audio.path, duration_ms=audio.duration_ms)
    stream = client.stream(job.params)
    view.begin(audio.path.name, audio.size)
    reader = asyncio.create_task(_collect(stream, transcript, view))
    try:
        await stream.connect()
        await _feed(stream, audio, view, realtime)
        drain = stream.config.timeouts.stop + _DRAIN_S_PER_AUDIO_S * (audio.duration_ms or 0) / 1000
        await stream.finish(timeout=drain)
        await reader
    finally:
        await _settle(reader)
        await stream.aclose()
        view.end()
    transcript.billed_seconds = stream.billed_seconds
    return transcript


async def _feed(stream: RecognitionStream, audio: AudioFile, view: QuietView, realtime: bool) -> None:
    frame = audio.frame_bytes()
    seconds_per_byte = (audio.duration_ms or 0) / 1000 / audio.size
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    with audio.path.open("rb") as handle:
        while chunk := handle.read(frame):
            if realtime:  # a live source delivers each frame only once it has been spoken
                await asyncio.sleep(max(0.0, start + sent * seconds_per_byte - loop.time()))
            await stream.send_audio(chunk)
            sent += len(chunk)
            view.advance(len(chunk))


async def _collect(stream: RecognitionStream, transcript: Transcript, view: QuietView) -> None:
    async for event in stream:
        if isinstance(event, SentenceEvent):
            if event.is_final:
                transcript.sentences.append(event.sentence)
                view.final()
            else:
                view.partial(event.sentence.text)
        elif isinstance(event, TaskCompleted):
            transcript.task_ids.append(event.metrics.task_id)
        else:
            logger.warning("reconnected after %s (%d ms of audio could not be replayed)", event.error, event.dropped_ms)


async def _settle(reader: asyncio.Task[None]) -> None:
    """End the reader; its error, if any, is the stream's, already raised by ``finish()``."""
    if not reader.done():
        reader.cancel()
    with contextlib.suppress(asyncio.CancelledError, FunAsrError):
        await reader


def _sniff_file(path: Path) -> str | None:
    with path.open("rb") as handle:
        kind = sniff(handle.read(4096))
    return kind if kind in AUDIO_FORMATS else None


def _wav_rate(path: Path) -> int | None:
    """The rate in a PCM WAV header; None if the file cannot say (probe then explains why)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getframerate()
    except (wave.Error, EOFError, OSError):
        return None


def _interactive() -> bool:
    return sys.stderr.isatty()
