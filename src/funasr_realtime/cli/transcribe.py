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

Outputs never overwrite each other: in ``--output-dir`` a file's transcript is
``STEM.FORMAT``, or ``NAME.FORMAT`` (``talk.wav.srt``, ``talk.ogg.srt``) when two inputs share
a stem; inputs that would still write the same file (``a/talk.wav`` and ``b/talk.wav``) are
refused before anything is sent. Several files as json on stdout are JSON Lines: one
document per line. On success a summary line goes to stderr (sentences, audio seconds,
billed seconds, wall time); ``--quiet`` drops it and the progress display.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..audio import CONTAINER_FORMATS, file_pcm
from ..audio.probe import AudioFile, format_from_suffix, probe, sniff, wav_sample_rate
from ..client import Client, RecognitionStream, Reconnected, SentenceEvent, TaskCompleted
from ..protocol import (
    AUDIO_FORMATS,
    AudioError,
    ConfigurationError,
    FunAsrError,
    RecognitionParams,
    Sentence,
    check_compatibility,
    choose_sample_rate,
)
from ..protocol.vocabulary import HotWord
from ._common import (
    add_client_options,
    check_sample_rate,
    is_quiet,
    make_client,
    quiet_library,
    verbosity,
    warn,
)
from .display import QuietView, make_view
from .output import FORMATS, SubtitleLimits, Transcript, json_line, render
from .vocab import read_hotwords

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
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="write STEM.FORMAT there instead of to stdout (NAME.FORMAT when two files share a stem)",
    )
    parser.add_argument("--realtime", action="store_true", help="send audio at real-time pace, like a live source")
    parser.add_argument(
        "--hotwords",
        type=Path,
        metavar="FILE",
        help="hot words, one a line (TEXT[<tab>WEIGHT]); their vocabulary is created once and reused by content",
    )
    subtitles = parser.add_argument_group("subtitles (srt, vtt)", "cues are cut between words, on their times")
    subtitles.add_argument("--max-line-chars", type=int, default=42, metavar="N", help="characters a line (default 42)")
    subtitles.add_argument("--max-lines", type=int, default=2, metavar="N", help="lines a cue (default 2)")
    subtitles.add_argument(
        "--max-cue-seconds", type=float, default=7.0, metavar="S", help="seconds a cue lasts at most (default 7)"
    )
    parser.set_defaults(run=run)


@dataclass(frozen=True, slots=True)
class Job:
    audio: AudioFile
    params: RecognitionParams  # format="pcm": the file is converted on the client
    assumed_rate: bool = False  # raw PCM without --sample-rate


@dataclass(slots=True)
class Totals:
    """What the closing summary line reports."""

    files: int = 0
    sentences: int = 0
    audio_ms: int = 0
    billed_seconds: int = 0

    def add(self, transcript: Transcript, audio_ms: int) -> None:
        self.files += 1
        self.sentences += sum(1 for s in transcript.sentences if s.text)
        self.audio_ms += audio_ms
        self.billed_seconds += transcript.billed_seconds

    def summary(self, wall_s: float) -> str:
        return (
            f"funasr-realtime: done: {_count(self.files, 'file')}, {_count(self.sentences, 'sentence')}, "
            f"{self.audio_ms / 1000:.1f} s of audio, {self.billed_seconds} s billed, {wall_s:.1f} s wall time"
        )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with quiet_library(verbosity(args)):
        check_sample_rate(args)
        limits = subtitle_limits(args)
        jobs = [plan(path, args) for path in args.files]
        words = read_hotwords(args.hotwords) if args.hotwords is not None else None
        targets = output_paths(jobs, args.output_dir, args.output) if args.output_dir is not None else None
        for job in jobs:
            if job.assumed_rate:
                rate = job.params.sample_rate
                warn(f"{job.audio.path.name}: raw PCM has no header; assuming {rate} Hz (say so with --sample-rate)")
        client = make_client(args)
        if args.output_dir is not None:  # an unusable directory fails now, not after the first file
            args.output_dir.mkdir(parents=True, exist_ok=True)
        totals = Totals()
        sink = _Sink(args.output, targets, limits, len(jobs))
        view = QuietView() if is_quiet(args) else make_view(_interactive())
        try:
            asyncio.run(_transcribe_all(client, jobs, args, view, sink=sink, totals=totals, words=words))
        finally:
            view.close()
    if not is_quiet(args):
        print(totals.summary(time.monotonic() - started), file=sys.stderr)
    return 0


def subtitle_limits(args: argparse.Namespace) -> SubtitleLimits:
    """The cue limits of ``--max-line-chars``, ``--max-lines``, ``--max-cue-seconds``. Raises ConfigurationError."""
    for flag, value in (
        ("--max-line-chars", args.max_line_chars),
        ("--max-lines", args.max_lines),
        ("--max-cue-seconds", args.max_cue_seconds),
    ):
        if not value > 0:
            raise ConfigurationError(f"{flag} must be positive, not {value}")
    return SubtitleLimits(args.max_line_chars, args.max_lines, max(1, round(args.max_cue_seconds * 1000)))


def output_paths(jobs: list[Job], directory: Path, format: str) -> list[Path]:
    """Where each job's transcript goes in ``directory``: ``STEM.FORMAT``, or ``NAME.FORMAT``
    for inputs that share a stem. Raises ConfigurationError when two would still write the
    same file, or a transcript would replace an input."""
    stems = Counter(job.audio.path.stem for job in jobs)
    paths = [
        directory / f"{job.audio.path.stem if stems[job.audio.path.stem] == 1 else job.audio.path.name}.{format}"
        for job in jobs
    ]
    seen: dict[Path, Path] = {}
    inputs = {job.audio.path.resolve() for job in jobs}
    for job, path in zip(jobs, paths, strict=True):
        if path.resolve() in inputs:
            raise ConfigurationError(f"the transcript of {job.audio.path} would overwrite the input {path}")
        if path in seen:
            raise ConfigurationError(
                f"{seen[path]} and {job.audio.path} would both be written to {path}; "
                "rename one or transcribe them into separate --output-dir directories"
            )
        seen[path] = job.audio.path
    return paths


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plan(path: Path, args: argparse.Namespace) -> Job:
    """Check one file and decide its parameters. Raises OSError, AudioError or ConfigurationError.

    The task rate is ``--sample-rate``, else the WAV's own rate when the model takes it, else
    the model's default; the file is resampled to it. The wire format is always PCM.
    """
    format = args.format or format_from_suffix(path) or _sniff_file(path)
    if format is None:
        raise AudioError(f"{path}: cannot tell the audio format; pass --format")
    native = _wav_rate(path) if format == "wav" else None
    rate = choose_sample_rate(args.model, explicit=args.sample_rate, native=native)
    audio = probe(path, format, rate)
    hints = (args.language,) if args.language else None
    params = RecognitionParams(model=args.model, format="pcm", sample_rate=rate, language_hints=hints)
    check_compatibility(params, region=None)  # rate and language now; the region once connected
    return Job(audio, params, assumed_rate=format == "pcm" and args.sample_rate is None)


@dataclass(frozen=True, slots=True)
class _Sink:
    """Where transcripts go: files in ``--output-dir`` (``targets``, one per job) or stdout."""

    format: str
    targets: list[Path] | None
    limits: SubtitleLimits
    files: int

    def write(self, index: int, transcript: Transcript, view: QuietView) -> None:
        if self.targets is not None:
            self.targets[index].write_text(render(self.format, transcript, self.limits), encoding="utf-8")
        elif self.files > 1 and self.format == "json":  # JSON Lines: every line a valid document
            view.emit(json_line(transcript))
        elif self.files > 1:
            view.emit(f"==> {transcript.path} <==\n{render(self.format, transcript, self.limits)}")
        else:
            view.emit(render(self.format, transcript, self.limits))


async def _transcribe_all(
    client: Client,
    jobs: list[Job],
    args: argparse.Namespace,
    view: QuietView,
    *,
    sink: _Sink,
    totals: Totals,
    words: tuple[HotWord, ...] | None = None,
) -> None:
    if words is not None:  # found by content, so a second run does not create another
        vocabulary_id = await client.vocabularies.ensure(args.model, words)
        jobs = [replace(job, params=job.params.model_copy(update={"vocabulary_id": vocabulary_id})) for job in jobs]
    for index, job in enumerate(jobs):
        transcript = Transcript(job.audio.path, duration_ms=job.audio.duration_ms)
        try:
            audio_ms = await _transcribe_one(client, job, view, args.realtime, transcript)
        except FunAsrError:
            if transcript.sentences:  # what arrived before the failure is not thrown away
                sink.write(index, transcript, view)
            raise
        sink.write(index, transcript, view)
        totals.add(transcript, audio_ms)


async def transcribe(
    client: Client, job: Job, view: QuietView, *, realtime: bool = False, transcript: Transcript | None = None
) -> Transcript:
    """Stream one file and collect its final sentences into ``transcript`` (a new one by default).

    Waits for the trailing results as long as they keep coming (``finish()`` follows
    progress). Raises the stream's error; the finals received until then are in ``transcript``.
    """
    transcript = transcript or Transcript(job.audio.path, duration_ms=job.audio.duration_ms)
    await _transcribe_one(client, job, view, realtime, transcript)
    return transcript


async def _transcribe_one(client: Client, job: Job, view: QuietView, realtime: bool, transcript: Transcript) -> int:
    """:func:`transcribe` into ``transcript``; returns the milliseconds of audio streamed."""
    stream = client.stream(job.params)
    view.begin(job.audio.path.name, job.audio.duration_ms)
    reader = asyncio.create_task(_collect(stream, transcript, view))
    try:
        await stream.connect()
        await _feed(stream, job, view, realtime)
        if transcript.duration_ms is None:  # a container's headers did not say; now it is known
            transcript.duration_ms = stream.audio_ms
        await stream.finish()
        await reader
        view.recognized(stream.audio_ms)  # the task completed: every byte sent is accounted for
    finally:
        await _settle(reader)
        await stream.aclose()
        view.end()
    transcript.billed_seconds = stream.billed_seconds
    return stream.audio_ms


async def _feed(stream: RecognitionStream, job: Job, view: QuietView, realtime: bool) -> None:
    """The file as 100 ms PCM frames. ``send_audio`` paces a faster-than-real-time sender;
    with ``realtime`` each frame also waits until it would have been spoken."""
    rate = job.params.sample_rate
    frame = rate * 2 * _FRAME_MS // 1000
    pace = rate if realtime else 0
    start, sent = asyncio.get_running_loop().time(), 0
    pending = bytearray()
    for pcm, _consumed in file_pcm(job.audio.path, job.audio.format, rate):
        pending += pcm
        while len(pending) >= frame:
            sent = await _send(stream, bytes(pending[:frame]), sent, start, pace)
            del pending[:frame]
            view.sent(sent * 1000 // (2 * rate))
    if pending:
        sent = await _send(stream, bytes(pending), sent, start, pace)
        view.sent(sent * 1000 // (2 * rate))


async def _send(stream: RecognitionStream, pcm: bytes, sent: int, start: float, pace_rate: int) -> int:
    """Send one frame (not before its real-time moment when ``pace_rate``); returns the bytes sent so far."""
    if pace_rate:  # a live source delivers each frame only once it has been spoken
        await asyncio.sleep(max(0.0, start + sent / (2 * pace_rate) - asyncio.get_running_loop().time()))
    await stream.send_audio(pcm)
    return sent + len(pcm)


async def _collect(stream: RecognitionStream, transcript: Transcript, view: QuietView) -> None:
    async for event in stream:
        if isinstance(event, SentenceEvent):
            covered = _covered_ms(event.sentence)
            if covered is not None:
                view.recognized(covered)
            if event.is_final:
                transcript.sentences.append(event.sentence)
                view.final()
            else:
                view.partial(event.sentence.text)
        elif isinstance(event, TaskCompleted):
            transcript.task_ids.append(event.metrics.task_id)
        elif isinstance(event, Reconnected):
            _report_reconnect(transcript.path, event)


def _covered_ms(sentence: Sentence) -> int | None:
    """How far into the audio a result reaches: a final's end, else its last word's end."""
    if sentence.end_time is not None:
        return sentence.end_time
    return max((word.end_time for word in sentence.words), default=None)


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
