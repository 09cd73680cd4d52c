#!/usr/bin/env python3
"""Generate the English speech fixtures used by the server tests.

Output (``tests/fixtures/speech/`` by default, committed so CI needs no TTS):

* ``s1_16k.wav`` .. ``s6_16k.wav`` -- one sentence each, 16 kHz mono s16le
  PCM WAV, with ``LEAD_S`` of digital silence before and after the speech.
* ``s1_8k.wav`` .. ``s6_8k.wav`` -- the same audio at 8 kHz.
* ``long_16k.wav`` / ``long_8k.wav`` -- all sentences in order, separated by
  ``GAP_S`` of digital silence, with ``LEAD_S`` lead-in and tail.
* ``sentences.jsgf`` -- a JSGF grammar whose public rule accepts exactly the
  sentences (lower-case words from pocketsphinx's cmudict).
* ``transcripts.json`` -- ``{"s1": text, ..., "long": [text, ...],
  "durations_ms": {name: ms}, "long_spans_ms": [[begin, end], ...]}``; the
  spans are where each sentence's speech sits inside ``long_*.wav``.
* ``hw1_16k.wav``, ``hw2_16k.wav`` and ``hot_words.json`` -- sentences holding a word the
  general en-us model cannot produce (not in its dictionary), for the hot-word tests:
  ``{"hw1": {"text": ..., "hot_word": ...}, ...}``.  ``--hot-words-only`` makes just these.

Requires ``flite`` (voice ``slt``, or ``espeak-ng`` with ``--voice espeak``)
and ``sox`` on PATH.  The output is deterministic for a given TTS version.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

SENTENCES: tuple[str, ...] = (
    "please book a table for two at seven",
    "what is the weather like tomorrow morning",
    "can you play some music in the kitchen",
    "remind me to call my mother tonight",
    "how do i get to the train station",
    "turn off the lights in the living room",
)
#: name -> (sentence, its hot word); the words are missing from pocketsphinx's cmudict.
HOT_WORD_SENTENCES: dict[str, tuple[str, str]] = {
    "hw1": ("ask paraformer to transcribe this", "Paraformer"),
    "hw2": ("send the report to pipecat today", "Pipecat"),
}
LEAD_S = 0.3
GAP_S = 1.5
RATES = (16000, 8000)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
# sox output options: mono s16le PCM, no dither, so silence stays digital zero.
PCM_OPTS = ("-D", "-c", "1", "-b", "16", "-e", "signed-integer")
# Drop TTS leading/trailing near-silence so the span positions are accurate.
TRIM = ("silence", "1", "0.02", "0.2%", "reverse", "silence", "1", "0.02", "0.2%", "reverse")


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def synthesize(text: str, dest: Path, voice: str, tmp: Path) -> None:
    """Write ``text`` as trimmed 16 kHz mono PCM to ``dest``."""
    raw = tmp / f"{dest.stem}.raw.wav"
    if voice == "slt":
        run("flite", "-voice", "slt", "-t", text, "-o", str(raw))
    else:
        run("espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text)
    run("sox", str(raw), *PCM_OPTS, "-r", "16000", str(dest), *TRIM)


def silence(dest: Path, seconds: float) -> None:
    run("sox", "-n", *PCM_OPTS, "-r", "16000", str(dest), "trim", "0", f"{seconds}")


def duration_ms(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return round(w.getnframes() * 1000 / w.getframerate())


def concat(parts: list[Path], dest: Path) -> None:
    run("sox", *map(str, parts), *PCM_OPTS, "-r", "16000", str(dest))


def to_8k(src: Path, dest: Path) -> None:
    run("sox", str(src), *PCM_OPTS, "-r", "8000", str(dest))


def grammar() -> str:
    alternatives = "\n    | ".join(SENTENCES)
    return f"#JSGF V1.0;\n\ngrammar sentences;\n\npublic <sentence> = {alternatives}\n    ;\n"


def build(out: Path, voice: str) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {}
    durations: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        lead, gap = tmp / "lead.wav", tmp / "gap.wav"
        silence(lead, LEAD_S)
        silence(gap, GAP_S)
        speech: list[Path] = []
        for i, text in enumerate(SENTENCES, start=1):
            name = f"s{i}"
            clip = tmp / f"{name}.wav"
            synthesize(text, clip, voice, tmp)
            speech.append(clip)
            concat([lead, clip, lead], out / f"{name}_16k.wav")
            meta[name] = text
            durations[name] = duration_ms(out / f"{name}_16k.wav")
        long_parts = [lead]
        spans: list[list[int]] = []
        cursor = duration_ms(lead)
        for j, clip in enumerate(speech):
            if j:
                long_parts.append(gap)
                cursor += duration_ms(gap)
            long_parts.append(clip)
            spans.append([cursor, cursor + duration_ms(clip)])
            cursor += duration_ms(clip)
        long_parts.append(lead)
        concat(long_parts, out / "long_16k.wav")
        durations["long"] = duration_ms(out / "long_16k.wav")
    for name in [*(f"s{i}" for i in range(1, len(SENTENCES) + 1)), "long"]:
        to_8k(out / f"{name}_16k.wav", out / f"{name}_8k.wav")
    meta["long"] = list(SENTENCES)
    meta["durations_ms"] = durations
    meta["long_spans_ms"] = spans
    meta["voice"] = voice
    (out / "sentences.jsgf").write_text(grammar(), encoding="utf-8")
    (out / "transcripts.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def build_hot_words(out: Path, voice: str) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        lead = tmp / "lead.wav"
        silence(lead, LEAD_S)
        for name, (text, hot_word) in HOT_WORD_SENTENCES.items():
            clip = tmp / f"{name}.wav"
            synthesize(text, clip, voice, tmp)
            concat([lead, clip, lead], out / f"{name}_16k.wav")
            meta[name] = {"text": text, "hot_word": hot_word}
    (out / "hot_words.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--voice", choices=("slt", "espeak"), default="slt")
    parser.add_argument("--hot-words-only", action="store_true", help="make only the hot-word fixtures")
    args = parser.parse_args(argv)
    needed = ["sox", "flite" if args.voice == "slt" else "espeak-ng"]
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2
    hot = build_hot_words(args.out, args.voice)
    if args.hot_words_only:
        print(f"wrote {args.out}: {', '.join(hot)}")
        return 0
    meta = build(args.out, args.voice)
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"wrote {args.out} ({size / 1e6:.2f} MB), durations_ms={meta['durations_ms']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
