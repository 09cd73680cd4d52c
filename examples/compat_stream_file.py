"""Stream a WAV file in 100 ms frames with callbacks, as a live source would, with the SDK-compatible API.

The documentation's streaming flow for a local file: ``start()``, ``send_audio_frame()``
every 100 ms (3200 bytes of 16 kHz audio), ``stop()``; results arrive through
``RecognitionCallback.on_event`` while the audio is being sent.

    python examples/compat_stream_file.py [FILE] [--url URL]

The endpoint is --url, else $DASHSCOPE_WEBSOCKET_BASE_URL; the cloud also needs
$DASHSCOPE_API_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import funasr_realtime.compat as dashscope
from funasr_realtime import FunAsrError
from funasr_realtime.compat import *  # noqa: F403 - the SDK's own style: Recognition, RecognitionCallback, ...

SPEECH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech" / "s1_16k.wav"
FRAME_BYTES = 3200  # 100 ms of 16 kHz 16-bit mono audio


class Printer(RecognitionCallback):  # noqa: F405
    def on_open(self) -> None:
        print("task started")

    def on_event(self, result: RecognitionResult) -> None:  # noqa: F405
        sentence = result.get_sentence()
        if RecognitionResult.is_sentence_end(sentence):  # noqa: F405
            print(f"final: {sentence['text']}  (request {result.get_request_id()}, {result.get_usage(sentence)})")
        else:
            print(f"partial: {sentence['text']}")

    def on_complete(self) -> None:
        print("task completed")

    def on_error(self, result: RecognitionResult) -> None:  # noqa: F405
        print(f"error {result.status_code} {result.code}: {result.message}", file=sys.stderr)

    def on_close(self) -> None:
        print("connection closed")


def main() -> int:
    parser = argparse.ArgumentParser(description="Stream a 16 kHz mono WAV file at real-time pace.")
    parser.add_argument("file", nargs="?", type=Path, default=SPEECH)
    parser.add_argument("--url", default=os.environ.get("DASHSCOPE_WEBSOCKET_BASE_URL"))
    args = parser.parse_args()
    dashscope.api_key = os.environ.get("DASHSCOPE_API_KEY")
    dashscope.base_websocket_api_url = args.url

    audio = args.file.read_bytes()
    recognition = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=Printer())  # noqa: F405
    recognition.start()
    try:
        for offset in range(0, len(audio), FRAME_BYTES):
            recognition.send_audio_frame(audio[offset : offset + FRAME_BYTES])
            time.sleep(0.1)  # pace like a live source
    except InvalidParameter as exc:  # noqa: F405 - the task failed; on_error said why
        print(f"stopped early: {exc}", file=sys.stderr)
        return 1
    recognition.stop()
    print(
        f"request id {recognition.get_last_request_id()}, "
        f"first package delay {recognition.get_first_package_delay():.0f} ms, "
        f"last package delay {recognition.get_last_package_delay():.0f} ms"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, FunAsrError) as exc:  # no key, an unreadable file...: one line, not a traceback
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else exc
        print(f"compat_stream_file.py: error: {reason}", file=sys.stderr)
        sys.exit(1)
