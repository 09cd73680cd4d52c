"""What the local server's engine itself says about some audio: the reference for full-speed runs.

The server's own task pipeline (VAD, engine, sentence segmentation) is run in-process on the
PCM, frame by frame, with no network and no clock: what a real-time run over the socket gets,
since the server's segmentation depends on the audio, not on when it arrives.
"""

from __future__ import annotations

import functools
import hashlib

from funasr_realtime.server.engines import create_engine
from funasr_realtime.server.task import TaskRecognizer
from tests.conftest import GRAMMAR

_PCM: dict[str, bytes] = {}


def long_speech(rate: int = 16000, copies: int = 3) -> bytes:
    """60+ s of speech: the long fixture ``copies`` times, 1.5 s of silence apart (longer than the
    1.3 s that ends a sentence, so no sentence spans two copies)."""
    from tests.conftest import load_speech

    gap = bytes(int(1.5 * rate) * 2)
    return (load_speech("long", rate).pcm + gap) * copies


def engine_sentences(pcm: bytes, *, grammar: bool = False, rate: int = 16000) -> tuple[str, ...]:
    """The final sentences the default (or grammar) engine gives ``pcm``, fed in 100 ms frames."""
    key = hashlib.sha256(pcm).hexdigest()
    _PCM[key] = pcm
    return _sentences(key, grammar, rate)


@functools.cache
def _sentences(key: str, grammar: bool, rate: int) -> tuple[str, ...]:
    pcm = _PCM[key]
    engine = create_engine("pocketsphinx", grammar=GRAMMAR if grammar else None)
    model = "fun-asr-realtime" if rate == 16000 else "paraformer-realtime-8k-v2"
    task = TaskRecognizer.create(
        model, {"format": "pcm", "sample_rate": rate}, engine, heartbeat_interval_ms=2000, max_audio_s=3600
    )
    frame = rate * 2 // 10
    results = []
    try:
        for i in range(0, len(pcm), frame):
            results += task.feed(pcm[i : i + frame])
        results += task.finish()
    finally:
        task.close()
    return tuple(r.sentence.text for r in results if r.sentence.is_final and r.sentence.text)


def words(sentences: tuple[str, ...] | list[str]) -> list[str]:
    return " ".join(sentences).split()
