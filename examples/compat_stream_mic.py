"""Transcribe the microphone live with callbacks, with the SDK-compatible API. Ctrl+C stops.

The documentation's microphone flow. Audio input needs an optional library:
``pip install sounddevice`` (with the PortAudio library) or ``pip install pyaudio``.
Without one it says so. ``FUNASR_REALTIME_MIC_FILE=speech.wav`` makes a WAV file stand in
for the microphone (played in real time), which is how CI runs this program.

    python examples/compat_stream_mic.py [--url URL]

The endpoint is --url, else $DASHSCOPE_WEBSOCKET_BASE_URL; the cloud also needs
$DASHSCOPE_API_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys

import funasr_realtime.compat as dashscope
from funasr_realtime import FunAsrError
from funasr_realtime.cli.microphone import MicrophoneUnavailable, open_microphone
from funasr_realtime.compat import *  # noqa: F403 - the SDK's own style: Recognition, RecognitionCallback, ...

SAMPLE_RATE = 16000


class Printer(RecognitionCallback):  # noqa: F405
    def on_open(self) -> None:
        print("listening (Ctrl+C to stop)", flush=True)

    def on_event(self, result: RecognitionResult) -> None:  # noqa: F405
        sentence = result.get_sentence()
        kind = "final" if RecognitionResult.is_sentence_end(sentence) else "partial"  # noqa: F405
        print(f"{kind}: {sentence['text']}", flush=True)

    def on_error(self, result: RecognitionResult) -> None:  # noqa: F405
        print(f"error {result.status_code} {result.code}: {result.message}", file=sys.stderr)

    def on_close(self) -> None:
        print("connection closed", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="Transcribe the microphone live.")
    parser.add_argument("--url", default=os.environ.get("DASHSCOPE_WEBSOCKET_BASE_URL"))
    args = parser.parse_args()
    dashscope.api_key = os.environ.get("DASHSCOPE_API_KEY")
    dashscope.base_websocket_api_url = args.url
    try:
        microphone = open_microphone(SAMPLE_RATE)
    except MicrophoneUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2

    recognition = Recognition(model="fun-asr-realtime", format="pcm", sample_rate=SAMPLE_RATE, callback=Printer())  # noqa: F405
    with microphone:
        recognition.start()
        try:
            while frame := microphone.read():  # b"" only when a stand-in file ends
                recognition.send_audio_frame(frame)
        except KeyboardInterrupt:
            print("stopping...", flush=True)
        except InvalidParameter as exc:  # noqa: F405 - the task failed; on_error said why
            print(f"stopped early: {exc}", file=sys.stderr)
            return 1
        recognition.stop()
    print(f"request id {recognition.get_last_request_id()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, FunAsrError) as exc:  # no key, an unreadable file...: one line, not a traceback
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else exc
        print(f"compat_stream_mic.py: error: {reason}", file=sys.stderr)
        sys.exit(1)
