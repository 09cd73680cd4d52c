#!/usr/bin/env python3
"""Convert a speech fixture into every format the service accepts, plus deliberately bad files.

Output (``tests/fixtures/speech/formats/`` by default, committed so CI needs no encoder):

* ``s1.mp3`` (MPEG-1/2 layer III, 16 kHz mono), ``s1.aac`` (AAC-LC in ADTS, 16 kHz mono),
  ``s1.amr`` (AMR-NB, 8 kHz, ``#!AMR`` storage format), ``s1.opus`` (Opus in Ogg),
  ``s1.spx`` (Speex wideband in Ogg): the same speech as ``../s1_16k.wav``;
* bad inputs for the format checks: ``mp3_named.wav`` (an MP3 behind a ``.wav`` name),
  ``float.wav`` (32-bit float WAV), ``stereo.wav`` (two channels), ``empty.wav`` (zero bytes).
  A WAV whose rate differs from the declared one needs no file: ``../s1_8k.wav`` serves.

Requires ``ffmpeg`` (with libmp3lame, libopus, libspeex) and ``sox`` (with AMR-NB) on PATH.
Encoder tags are stripped (``-fflags +bitexact``) so re-running with the same tools gives
the same bytes. Bad WAVs are cut to half a second to keep the repository small.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SPEECH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
SOURCE = SPEECH / "s1_16k.wav"
DEFAULT_OUT = SPEECH / "formats"
BITEXACT = ("-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact")

#: name -> ffmpeg output options (input is the 16 kHz mono source).
ENCODINGS: dict[str, tuple[str, ...]] = {
    "s1.mp3": ("-c:a", "libmp3lame", "-b:a", "32k", "-ar", "16000", "-ac", "1", "-f", "mp3"),
    "s1.aac": ("-c:a", "aac", "-b:a", "32k", "-ar", "16000", "-ac", "1", "-f", "adts"),
    "s1.opus": ("-c:a", "libopus", "-b:a", "24k", "-ac", "1", "-f", "ogg"),
    "s1.spx": ("-c:a", "libspeex", "-ar", "16000", "-ac", "1", "-f", "ogg"),
}
BAD_WAVS: dict[str, tuple[str, ...]] = {
    "float.wav": ("-t", "0.5", "-c:a", "pcm_f32le", "-ac", "1"),
    "stereo.wav": ("-t", "0.5", "-c:a", "pcm_s16le", "-ac", "2"),
}


def ffmpeg(source: Path, dest: Path, options: tuple[str, ...]) -> None:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    subprocess.run([*command, *BITEXACT, *options, str(dest)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, options in ENCODINGS.items():
        ffmpeg(SOURCE, out / name, options)
    # sox encodes AMR-NB (ffmpeg builds rarely carry the OpenCORE encoder); 12.2 kbit/s mode, no dither.
    subprocess.run(["sox", "-D", str(SOURCE), "-r", "8000", "-t", "amr-nb", "-C", "7", str(out / "s1.amr")], check=True)
    for name, options in BAD_WAVS.items():
        ffmpeg(SOURCE, out / name, options)
    (out / "mp3_named.wav").write_bytes((out / "s1.mp3").read_bytes())
    (out / "empty.wav").write_bytes(b"")
    for path in sorted(out.iterdir()):
        print(f"{path.name:16} {path.stat().st_size:7} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
