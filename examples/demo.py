"""The `make demo` program: stream speech at real-time pace and print what is recognized.

By default it starts the local server (`funasr-realtime serve`) in a subprocess and streams
the bundled recording through the asyncio client, 100 ms at a time, as a microphone would.
For the bundled recording the local server is given its grammar, so the transcript is exact;
pass --open-vocabulary to use its general English model instead (less accurate).

--file YOUR.wav streams your own WAV (any rate or channel count; it is converted to 16 kHz
mono) to the general English model: the bundled grammar only knows the bundled sentences
and would turn your speech into them. Pass --grammar FILE.jsgf to restrict it yourself.

With --cloud it targets Alibaba Cloud instead: set DASHSCOPE_API_KEY (and optionally
DASHSCOPE_WEBSOCKET_BASE_URL, or --region cn for Beijing).

Every failure (no key, unreadable file, server that will not start) is one line on stderr
and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import funasr_realtime as fr
from funasr_realtime.audio import file_pcm

HERE = Path(__file__).resolve().parent
AUDIO = HERE.parent / "tests" / "fixtures" / "speech" / "long_16k.wav"
GRAMMAR = AUDIO.with_name("sentences.jsgf")
FRAME_MS = 100
RATE = 16000


class DemoError(Exception):
    """A failure the demo explains in one line."""


@asynccontextmanager
async def local_server(grammar: Path | None) -> AsyncIterator[str]:
    """Run `funasr-realtime serve` (restricted to ``grammar`` if given) and yield its URL once it listens."""
    command = [sys.executable, "-m", "funasr_realtime.cli", "serve"]
    if grammar is not None:
        command += ["--grammar", str(grammar)]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        if not line.startswith("listening on "):
            reason = (await asyncio.wait_for(process.stderr.read(), timeout=10)).decode().strip()
            raise DemoError(f"the local server did not start: {reason or line.strip() or 'no output'}")
        yield line.removeprefix("listening on ").strip()
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def read_audio(path: Path) -> bytes:
    """The WAV file as 16 kHz mono PCM. Raises DemoError."""
    try:
        return b"".join(pcm for pcm, _ in file_pcm(path, "wav", RATE))
    except OSError as exc:
        raise DemoError(f"cannot read {path}: {exc.strerror or exc}") from None
    except fr.FunAsrError as exc:
        raise DemoError(f"{path} is not a WAV file the demo can read: {exc}") from None


async def stream_file(client: fr.Client, pcm: bytes, model: str) -> None:
    rate = RATE
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


def server_grammar(args: argparse.Namespace) -> Path | None:
    """The grammar for the local server: --grammar, else the bundled one for the bundled recording only."""
    if args.grammar is not None:
        return Path(args.grammar)
    if args.open_vocabulary or args.file.resolve() != AUDIO:
        return None
    return GRAMMAR


async def run(args: argparse.Namespace) -> None:
    pcm = read_audio(args.file)
    if args.cloud:
        if not os.environ.get("DASHSCOPE_API_KEY"):
            raise DemoError("--cloud needs an API key: set DASHSCOPE_API_KEY (or drop --cloud to use the local server)")
        await stream_file(fr.Client(region=args.region), pcm, args.model)
        return
    grammar = server_grammar(args)
    async with local_server(grammar) as url:
        vocabulary = f"grammar {grammar.name}" if grammar else "general English model"
        print(f"local server: {url} ({vocabulary})")
        await stream_file(fr.Client(url=url), pcm, args.model)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud", action="store_true", help="use Alibaba Cloud (needs DASHSCOPE_API_KEY)")
    parser.add_argument("--region", choices=["intl", "cn"], help="cloud region (default intl)")
    parser.add_argument("--open-vocabulary", action="store_true", help="local server without any grammar")
    parser.add_argument("--grammar", type=Path, help="JSGF grammar for the local server (default: none for --file)")
    parser.add_argument("--file", type=Path, default=AUDIO, help="WAV to stream (default: the bundled recording)")
    parser.add_argument("--model", default="fun-asr-realtime")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except (DemoError, fr.FunAsrError) as exc:
        print(f"demo.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
