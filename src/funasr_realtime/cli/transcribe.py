"""``funasr-realtime transcribe FILE...``: stream files and write their transcripts.

Each file is checked against its format first (all of them, before anything is sent), then
converted to PCM on the client as it is read (:func:`funasr_realtime.audio.file_pcm`: WAV
of any width, channel count and rate, mp3, aac, amr, opus, speex, and .m4a/.mp4 AAC or FLAC
through PyAV) and streamed in 100 ms frames: at full speed, paced by the stream's flow
control, or with ``--realtime`` like a live source. Because the wire carries PCM, rotation,
idle finish and reconnect replay work for every format.

The transcript goes to stdout (or ``--output-dir``) as txt, json, srt or vtt. The finals that
arrived are written even when the stream fails later; audio lost in a reconnect
(``Reconnected.dropped_ms``) is reported on stderr, one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio import CONTAINER_FORMATS, file_pcm
from ..client import Client, RecognitionStream, Reconnected, SentenceEvent, TaskCompleted
from ..compat.audiofile import AudioFile, format_from_suffix, probe, sniff, wav_sample_rate
from ..protocol import AUDIO_FORMATS, AudioError, FunAsrError, RecognitionParams, check_compatibility
from ._common import (
    add_client_options,
    check_sample_rate,
    default_sample_rate,
    make_client,
    model_accepts,
    quiet_library,
    warn,
)
from .display import QuietView, make_view
from .output import FORMATS, Transcript, render

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)

# Frames of this much audio go to the stream (the service's recommended size).
_FRAME_MS = 100


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
    params: RecognitionParams  # format="pcm": the file is converted on the client
    assumed_rate: bool = False  # raw PCM without --sample-rate


def run(args: argparse.Namespace) -> int:
    with quiet_library(args.verbose):
        check_sample_rate(args)
        jobs = [plan(path, args) for path in args.files]
        for job in jobs:
            if job.assumed_rate:
                rate = job.params.sample_rate
                warn(f"{job.audio.path.name}: raw PCM has no header; assuming {rate} Hz (say so with --sample-rate)")
        client = make_client(args)
        view = make_view(_interactive())
        try:
            asyncio.run(_transcribe_all(client, jobs, args, view))
        finally:
            view.close()
    return 0


def plan(path: Path, args: argparse.Namespace) -> Job:
    """Check one file and decide its parameters. Raises OSError, AudioError or ConfigurationError.

    The task rate is ``--sample-rate``, else the WAV's own rate when the model takes it, else
    the model's default; the file is resampled to it. The wire format is always PCM.
    """
    format = args.format or format_from_suffix(path) or _sniff_file(path)
    if format is None:
        raise AudioError(f"{path}: cannot tell the audio format; pass --format")
    native = _wav_rate(path) if format == "wav" else None
    rate = args.sample_rate or (native if native and model_accepts(args.model, native) else None)
    rate = rate or default_sample_rate(args.model)
    audio = probe(path, format, rate)
    hints = (args.language,) if args.language else None
    params = RecognitionParams(model=args.model, format="pcm", sample_rate=rate, language_hints=hints)
    check_compatibility(params, region=None)  # rate and language now; the region once connected
    return Job(audio, params, assumed_rate=format == "pcm" and args.sample_rate is None)


async def _transcribe_all(client: Client, jobs: list[Job], args: argparse.Namespace, view: QuietView) -> None:
    for job in jobs:
        transcript = Transcript(job.audio.path, duration_ms=job.audio.duration_ms)
        try:
            await transcribe(client, job, view, realtime=args.realtime, transcript=transcript)
        except FunAsrError:
            if transcript.sentences:  # what arrived before the failure is not thrown away
                _write(args, job, transcript, several=len(jobs) > 1, view=view)
            raise
        _write(args, job, transcript, several=len(jobs) > 1, view=view)


def _write(args: argparse.Namespace, job: Job, transcript: Transcript, *, several: bool, view: QuietView) -> None:
    document = render(args.output, transcript)
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        (args.output_dir / f"{job.audio.path.stem}.{args.output}").write_text(document, encoding="utf-8")
    elif several:
        view.emit(f"==> {job.audio.path} <==\n{document}")
    else:
        view.emit(document)


async def transcribe(
    client: Client, job: Job, view: QuietView, *, realtime: bool = False, transcript: Transcript | None = None
) -> Transcript:
    """Stream one file and collect its final sentences into ``transcript`` (a new one by default).

    Waits for the trailing results as long as they keep coming (``finish()`` follows
    progress). Raises the stream's error; the finals received until then are in ``transcript``.
    """
    audio = job.audio
    transcript = transcript or Transcript(audio.path, duration_ms=audio.duration_ms)
    stream = client.stream(job.params)
    view.begin(audio.path.name, audio.size)
    reader = asyncio.create_task(_collect(stream, transcript, view))
    try:
        await stream.connect()
        await _feed(stream, job, view, realtime)
        await stream.finish()
        await reader
    finally:
        await _settle(reader)
        await stream.aclose()
        view.end()
    transcript.billed_seconds = stream.billed_seconds
    return transcript


async def _feed(stream: RecognitionStream, job: Job, view: QuietView, realtime: bool) -> None:
    """The file as 100 ms PCM frames. ``send_audio`` paces a faster-than-real-time sender;
    with ``realtime`` each frame also waits until it would have been spoken."""
    rate = job.params.sample_rate
    frame = rate * 2 * _FRAME_MS // 1000
    pace = rate if realtime else 0
    start, sent = asyncio.get_running_loop().time(), 0
    pending = bytearray()
    for pcm, consumed in file_pcm(job.audio.path, job.audio.format, rate):
        pending += pcm
        while len(pending) >= frame:
            sent = await _send(stream, bytes(pending[:frame]), sent, start, pace)
            del pending[:frame]
        view.advance(consumed)
    if pending:
        await _send(stream, bytes(pending), sent, start, pace)


async def _send(stream: RecognitionStream, pcm: bytes, sent: int, start: float, pace_rate: int) -> int:
    """Send one frame (not before its real-time moment when ``pace_rate``); returns the bytes sent so far."""
    if pace_rate:  # a live source delivers each frame only once it has been spoken
        await asyncio.sleep(max(0.0, start + sent / (2 * pace_rate) - asyncio.get_running_loop().time()))
    await stream.send_audio(pcm)
    return sent + len(pcm)


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
        elif isinstance(event, Reconnected):
            _report_reconnect(transcript.path, event)


def _report_reconnect(path: Path, event: Reconnected) -> None:
    """Lost audio is never silent: a one-line warning. A lossless reconnect is only logged."""
    if event.dropped_ms > 0:
        warn(f"{path.name}: {event.dropped_ms} ms of audio were lost reconnecting after: {event.error}")
    else:
        logger.info("reconnected after %s (%d ms replayed)", event.error, event.replayed_ms)


async def _settle(reader: asyncio.Task[None]) -> None:
    """End the reader; its error, if any, is the stream's, already raised by ``finish()``."""
    if not reader.done():
        reader.cancel()
    with contextlib.suppress(asyncio.CancelledError, FunAsrError):
        await reader


def _sniff_file(path: Path) -> str | None:
    with path.open("rb") as handle:
        kind = sniff(handle.read(4096))
    return kind if kind in AUDIO_FORMATS or kind in CONTAINER_FORMATS else None


def _wav_rate(path: Path) -> int | None:
    """The rate in a WAV header; None if the file cannot say (probe then explains why)."""
    try:
        return wav_sample_rate(path)
    except OSError:
        return None


def _interactive() -> bool:
    return sys.stderr.isatty()
