"""Measure a server's accuracy and speed on your own recordings: CER or WER, and RTF.

Layout of DIR: one recording and its reference transcript per name, side by side::

    DIR/meeting1.wav   any WAV (any rate, mono or stereo; sent as 16 kHz mono)
    DIR/meeting1.txt   what is said, UTF-8, one or more lines

Each recording is transcribed by the server at URL (the local server, e.g.
``funasr-realtime serve --engine sherpa-paraformer --model-dir DIR``, or the cloud with
DASHSCOPE_API_KEY set), one file at a time, its audio sent as fast as the client allows.
A reference holding Chinese or Japanese characters is scored by CER (characters, spaces
ignored), any other by WER (words); both ignore case and punctuation. Errors are the edit
distance between reference and transcript, summed over the files of a language and divided
by the reference length. RTF is wall time (first audio frame to last result) over audio time.

Prints one line per file, then one line per metric and the overall RTF. A file without its
transcript is skipped; a folder without any pair, or a server that fails, is one line on
stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import funasr_realtime as fr
from funasr_realtime.audio import file_pcm

RATE = 16000
FRAME = RATE * 2 // 10  # 100 ms


class MeasureError(Exception):
    """A failure explained in one line."""


@dataclass(frozen=True)
class Score:
    """One file: its metric (CER or WER), edit distance, reference length and timing."""

    name: str
    metric: str
    errors: int
    length: int
    audio_s: float
    wall_s: float
    hypothesis: str


def tokens(text: str, metric: str) -> list[str]:
    """Lowercased, punctuation dropped; characters (no spaces) for CER, words for WER."""
    kept = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text.lower())
    return [c for c in kept if not c.isspace()] if metric == "CER" else kept.split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance: substitutions, deletions and insertions."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1]


def pairs(folder: Path) -> list[tuple[Path, str]]:
    """(recording, reference) of every ``NAME.wav`` with a ``NAME.txt`` beside it, by name."""
    found = [(wav, wav.with_suffix(".txt")) for wav in sorted(folder.glob("*.wav"))]
    listed = [(wav, txt.read_text(encoding="utf-8").strip()) for wav, txt in found if txt.is_file()]
    if not listed:
        raise MeasureError(f"no NAME.wav with its NAME.txt in {folder}")
    return listed


async def transcribe(client: fr.Client, pcm: bytes, model: str) -> str:
    """The finals' texts of one task, joined as the service joins sentences."""
    texts: list[str] = []
    async with client.stream(model=model, sample_rate=RATE) as stream:

        async def feed() -> None:
            for offset in range(0, len(pcm), FRAME):
                await stream.send_audio(pcm[offset : offset + FRAME])
            await stream.finish()

        feeder = asyncio.create_task(feed())
        async for event in stream:
            if isinstance(event, fr.SentenceEvent) and event.is_final:
                texts.append(event.sentence.text)
        await feeder
    return fr.join_texts(texts)


async def measure(client: fr.Client, wav: Path, reference: str, model: str) -> Score:
    try:
        pcm = b"".join(piece for piece, _ in file_pcm(wav, "wav", RATE))
    except (OSError, fr.FunAsrError) as exc:
        raise MeasureError(f"cannot read {wav}: {exc}") from None
    started = time.monotonic()
    hypothesis = await transcribe(client, pcm, model)
    wall = time.monotonic() - started
    metric = "CER" if fr.is_unspaced(reference) else "WER"
    ref = tokens(reference, metric)
    errors = edit_distance(ref, tokens(hypothesis, metric))
    return Score(wav.stem, metric, errors, len(ref), len(pcm) / (2 * RATE), wall, hypothesis)


def report(scores: list[Score]) -> list[str]:
    """The lines printed: one per file, one per metric, then the RTF over all files."""
    lines = [
        f"{s.name}: {s.metric} {s.errors / max(1, s.length):.3f} ({s.errors}/{s.length}), "
        f"RTF {s.wall_s / max(s.audio_s, 1e-9):.3f}: {s.hypothesis}"
        for s in scores
    ]
    for metric in ("CER", "WER"):
        chosen = [s for s in scores if s.metric == metric]
        if chosen:
            errors, length = sum(s.errors for s in chosen), sum(s.length for s in chosen)
            lines.append(f"{metric} {errors / max(1, length):.3f} over {len(chosen)} files ({errors}/{length})")
    audio, wall = sum(s.audio_s for s in scores), sum(s.wall_s for s in scores)
    lines.append(f"RTF {wall / max(audio, 1e-9):.3f} ({audio:.1f} s of audio in {wall:.1f} s)")
    return lines


async def run(args: argparse.Namespace) -> list[str]:
    client = fr.Client(url=args.url) if args.url else fr.Client()
    scores = [await measure(client, wav, text, args.model) for wav, text in pairs(args.folder)]
    return report(scores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, metavar="DIR", help="NAME.wav + NAME.txt pairs")
    parser.add_argument("--url", help="the server's WebSocket URL (default: DASHSCOPE_WEBSOCKET_BASE_URL or the cloud)")
    parser.add_argument("--model", default="fun-asr-realtime", help="model asked for (default fun-asr-realtime)")
    args = parser.parse_args(argv)
    try:
        lines = asyncio.run(run(args))
    except (MeasureError, fr.FunAsrError) as exc:
        print(f"measure_accuracy.py: error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
