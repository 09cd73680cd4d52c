"""``funasr-realtime mic``: transcribe the default microphone live until Ctrl+C.

Final sentences go to stdout one per line as they are recognized; the sentence in progress
shows on stderr when it is a terminal. Without an input device (or audio library) it says
so and exits 1; ``$FUNASR_REALTIME_MIC_FILE`` makes a WAV file stand in for the microphone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from ..client import Client, RecognitionStream, SentenceEvent
from ..protocol import FunAsrError, RecognitionParams, choose_sample_rate
from ._common import add_client_options, is_quiet, make_client, quiet_library, verbosity
from .display import QuietView, make_view
from .microphone import MIC_FILE_ENV, Microphone, MicrophoneUnavailable, open_microphone

__all__ = ["add_parser", "run"]


_EPILOG = f"""\
audio input:
  needs sounddevice (pip install sounddevice, or "funasr-realtime[mic]") and the PortAudio
  library it loads (Debian/Ubuntu: sudo apt-get install libportaudio2; macOS: brew install
  portaudio), or PyAudio. Without an input it says which of these is missing.

environment:
  {MIC_FILE_ENV}=FILE.wav
      stream this 16-bit mono WAV (at the task's rate, 16 kHz by default) in real time, as
      if spoken into a microphone, then stop: for machines without one, and for tests.
"""


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "mic",
        help="transcribe the microphone live (Ctrl+C to stop)",
        description="Stream the default microphone to Fun-ASR (or a local server) and print sentences as they end.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with quiet_library(verbosity(args)):
        rate = choose_sample_rate(args.model, explicit=args.sample_rate)
        hints = (args.language,) if args.language else None
        params = RecognitionParams(model=args.model, format="pcm", sample_rate=rate, language_hints=hints)
        client = make_client(args)
        try:
            microphone = open_microphone(rate)
        except MicrophoneUnavailable as exc:
            print(f"funasr-realtime: error: {exc}", file=sys.stderr)
            return 1
        view = QuietView() if is_quiet(args) else make_view(sys.stderr.isatty())
        try:
            with microphone:
                asyncio.run(listen(client, params, microphone, view, announce=not is_quiet(args)))
        finally:
            view.close()
    return 0


async def listen(
    client: Client, params: RecognitionParams, microphone: Microphone, view: QuietView, *, announce: bool = True
) -> None:
    """Stream until Ctrl+C (or the end of a stand-in file), then finish and print the last sentence.

    ``announce`` says on stderr which input is listened to (``--quiet`` turns it off).
    """
    stop = _stop_on_interrupt()
    stream = client.stream(params)
    await stream.connect()
    if announce:
        print(f"listening on {microphone.name} (Ctrl+C to stop)", file=sys.stderr, flush=True)
    view.begin(microphone.name, None)
    reader = asyncio.create_task(_print_finals(stream, view))
    try:
        while not stop.is_set() and (chunk := await asyncio.to_thread(microphone.read)):
            await stream.send_audio(chunk)
        await stream.finish()
        await reader
    finally:
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, FunAsrError):  # the stream's error, raised above
            await reader
        await stream.aclose()
        view.end()


async def _print_finals(stream: RecognitionStream, view: QuietView) -> None:
    async for event in stream:
        if isinstance(event, SentenceEvent):
            if event.is_final:
                view.final()
                if event.sentence.text:  # a sentence cut off by Ctrl+C may end up empty
                    view.emit(f"{event.sentence.text}\n")
            else:
                view.partial(event.sentence.text)


def _stop_on_interrupt() -> asyncio.Event:
    """An event set by Ctrl+C (SIGINT), so the stream ends cleanly instead of being cancelled."""
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' default loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    return stop
