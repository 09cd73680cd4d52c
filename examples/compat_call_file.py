"""Recognize a whole WAV file in one call, with the SDK-compatible API.

The documentation's non-streaming flow: ``Recognition.call(file)`` returns every final
sentence at once. Existing SDK code only changes its imports, as here.

    python examples/compat_call_file.py [FILE] [--url URL]

The endpoint is --url, else $DASHSCOPE_WEBSOCKET_BASE_URL (a local server started with
``funasr-realtime serve`` needs no key); the cloud also needs $DASHSCOPE_API_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys
from http import HTTPStatus
from pathlib import Path

import funasr_realtime.compat as dashscope
from funasr_realtime import FunAsrError
from funasr_realtime.compat import Recognition

SPEECH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech" / "s1_16k.wav"


def main() -> int:
    parser = argparse.ArgumentParser(description="Recognize a 16 kHz mono WAV file in one call.")
    parser.add_argument("file", nargs="?", type=Path, default=SPEECH)
    parser.add_argument("--url", default=os.environ.get("DASHSCOPE_WEBSOCKET_BASE_URL"))
    args = parser.parse_args()
    dashscope.api_key = os.environ.get("DASHSCOPE_API_KEY")
    dashscope.base_websocket_api_url = args.url

    recognition = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None)
    result = recognition.call(str(args.file))
    if result.status_code != HTTPStatus.OK:
        print(f"error {result.status_code} {result.code}: {result.message}", file=sys.stderr)
        return 1
    for sentence in result.get_sentence():
        begin, end = sentence["begin_time"] / 1000, sentence["end_time"] / 1000
        print(f"[{begin:5.2f}s - {end:5.2f}s] {sentence['text']}  (billed {result.get_usage(sentence)})")
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
        print(f"compat_call_file.py: error: {reason}", file=sys.stderr)
        sys.exit(1)
