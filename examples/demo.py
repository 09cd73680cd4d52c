"""The `make demo` program: stream speech at real-time pace and print what is recognized.

By default it starts the local server (`funasr-realtime serve`) in a subprocess and streams
the bundled recording through the asyncio client, 100 ms at a time, as a microphone would.
The local server is given the recording's grammar so the transcript is exact; pass
--open-vocabulary to use its general English model instead (less accurate).

With --cloud it targets Alibaba Cloud instead: set DASHSCOPE_API_KEY (and optionally
DASHSCOPE_WEBSOCKET_BASE_URL, or --region cn for Beijing).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import funasr_realtime as fr

HERE = Path(__file__).resolve().parent
AUDIO = HERE.parent / "tests" / "fixtures" / "speech" / "long_16k.wav"
GRAMMAR = AUDIO.with_name("sentences.jsgf")
FRAME_MS = 100


@asynccontextmanager
async def local_server(open_vocabulary: bool) -> AsyncIterator[str]:
    """Run `funasr-realtime serve` and yield its URL once it listens."""
    command = [sys.executable, "-m", "funasr_realtime.cli", "serve"]
    if not open_vocabulary:
        command += ["--grammar", str(GRAMMAR)]
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


async def stream_file(client: fr.Client, path: Path, model: str) -> None:
    with wave.open(str(path)) as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    frame = rate * 2 * FRAME_MS // 1000
    stream = client.stream(model=model, sample_rate=rate, max_sentence_silence=800)
    t0 = time.monotonic()
    await stream.connect()
    print(f"connected in {(time.monotonic() - t0) * 1000:.0f} ms; streaming {len(pcm) / (2 * rate):.1f} s of audio\n")

    async def feed() -> None:
        start = time.monotonic()
        for n, offset in enumerate(range(0, len(pcm), frame)):
            await asyncio.sleep(max(0.0, start + n * FRAME_MS / 1000 - time.monotonic()))
            await stream.send_audio(pcm[offset : offset + frame])
        await stream.finish()

    feeder = asyncio.create_task(feed())
    live = sys.stdout.isatty()  # rewrite one line per sentence on a terminal; plain lines otherwise
    async for event in stream:
        if isinstance(event, fr.SentenceEvent):
            s = event.sentence
            if event.is_final:
                clear = "\r\033[K" if live else ""
                print(f"{clear}[{s.begin_time / 1000:6.2f}s - {(s.end_time or 0) / 1000:6.2f}s] {s.text}")
            elif live:
                print(f"\r\033[K  ... {s.text}", end="", flush=True)
            else:
                print(f"  partial [{s.begin_time / 1000:6.2f}s] {s.text}")
        else:
            m = event.metrics
            print(
                f"\ntask {m.task_id[:8]}: first package delay {m.first_package_delay_ms or 0:.0f} ms, "
                f"last package delay {m.last_package_delay_ms or 0:.0f} ms, billed {m.billed_seconds} s"
            )
    await feeder
    print(f"total billed: {stream.billed_seconds} s")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud", action="store_true", help="use Alibaba Cloud (needs DASHSCOPE_API_KEY)")
    parser.add_argument("--region", choices=["intl", "cn"], help="cloud region (default intl)")
    parser.add_argument("--open-vocabulary", action="store_true", help="local server without the grammar")
    parser.add_argument("--file", type=Path, default=AUDIO, help="16 kHz mono WAV to stream")
    parser.add_argument("--model", default="fun-asr-realtime")
    args = parser.parse_args()
    if args.cloud:
        await stream_file(fr.Client(region=args.region), args.file, args.model)
        return 0
    async with local_server(args.open_vocabulary) as url:
        print(f"local server: {url}")
        await stream_file(fr.Client(url=url), args.file, args.model)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
