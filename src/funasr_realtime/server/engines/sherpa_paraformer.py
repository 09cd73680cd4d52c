"""The streaming bilingual (zh + en) Paraformer through sherpa-onnx: true streaming partials.

Contract (see :mod:`.base`): :class:`SherpaParaformerEngine` loads one
``sherpa_onnx.OnlineRecognizer`` (thread-safe: its ONNX sessions are, and each stream keeps its
own state) and hands out one :class:`SherpaParaformerUtterance`, holding one ``OnlineStream``,
per sentence. The model folder is the user's (``funasr-realtime models`` says where to get it);
nothing downloads.

* Streaming: ``feed`` decodes every complete 0.61 s chunk at once (sherpa-onnx's chunk size), so
  the partial text grows while the sentence is spoken; ``end`` pads 0.66 s of silence (as the
  upstream examples do), marks the input finished and decodes what is left.
* Endpointing is the server's: its VAD opens and ends sentences (:mod:`..transcriber`), so
  sherpa-onnx's own endpoint rules are off.
* Audio arrives at 16 kHz: the server resamples 8 kHz (and any other rate) before the engine.
* No word timestamps: the model gives none (upstream: "This model does not support
  timestamps"), so ``end`` returns no words and results carry ``words: []``. Inventing times
  would mislead; the service's clients already handle a sentence without words (subtitles
  place its words in proportion to the text, LiveKit sends no word list).
* Text: sherpa-onnx joins the tokens; :func:`funasr_realtime.text.tidy_spacing` then applies
  the service's spacing (no spaces between CJK characters, one around Latin words). The model
  writes no punctuation.
* Damaged or wrong files are a one-line :class:`ConfigurationError`, never a dead server:
  sherpa-onnx ends the process (``_Exit(-1)``) on a missing metadata key, so the encoder's
  metadata is read first (:mod:`._onnx_meta`), and its load errors (``RuntimeError``,
  "Protobuf parsing failed") are caught.

Memory: the recognizer holds the model once (int8: ~226 MB of files); a stream keeps its
sentence's features, bounded by the transcriber's 60 s sentence cut. sherpa-onnx releases the
GIL while decoding, so the server's engine threads decode different streams in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ...protocol import ConfigurationError
from ...text import tidy_spacing
from ._onnx_meta import check_metadata
from .catalog import check_model_dir, find_model
from .sherpa_offline import pcm_to_float

__all__ = ["ENCODER_METADATA", "SherpaParaformerEngine", "SherpaParaformerUtterance"]

#: The encoder metadata sherpa-onnx reads (online-paraformer-model.cc); a missing key ends the process.
ENCODER_METADATA = (
    "vocab_size",
    "lfr_window_size",
    "lfr_window_shift",
    "encoder_output_size",
    "decoder_num_blocks",
    "decoder_kernel_size",
    "neg_mean",
    "inv_stddev",
)
_RATE = 16_000
_TAIL = np.zeros(int(0.66 * _RATE), dtype=np.float32)


class SherpaParaformerUtterance:
    """One sentence on one sherpa-onnx stream; see :mod:`.base` for the call order."""

    def __init__(self, recognizer: Any) -> None:
        self._recognizer = recognizer
        self._stream: Any = recognizer.create_stream()

    def feed(self, pcm16k: bytes) -> str:
        stream = self._open_stream()
        stream.accept_waveform(_RATE, pcm_to_float(pcm16k))
        self._decode(stream)
        return tidy_spacing(self._recognizer.get_result(stream))

    def end(self) -> tuple[str, list[tuple[str, int, int]]]:
        """The final text, and no words: the model gives no timestamps."""
        stream = self._open_stream()
        stream.accept_waveform(_RATE, _TAIL)
        stream.set_option("is_final", "1")  # newer sherpa-onnx: decode the last short chunk too
        stream.input_finished()
        self._decode(stream)
        text = tidy_spacing(self._recognizer.get_result(stream))
        self.close()
        return text, []

    def close(self) -> None:
        self._stream = None

    def _open_stream(self) -> Any:
        if self._stream is None:
            raise RuntimeError("utterance has ended or is closed")
        return self._stream

    def _decode(self, stream: Any) -> None:
        while self._recognizer.is_ready(stream):
            self._recognizer.decode_stream(stream)


class SherpaParaformerEngine:
    """sherpa-onnx's streaming Paraformer over the model folder ``model_dir``.

    Raises :class:`~funasr_realtime.protocol.ConfigurationError` (one line, with the fetch
    command) when the folder or a file is missing, a file is damaged, or the encoder is not a
    streaming Paraformer. ``num_threads``: ONNX Runtime threads per decode call; 1 by default,
    since the server decodes different streams on its own threads at once.
    """

    name: str = "sherpa-paraformer"
    synthetic: bool = False

    def __init__(self, model_dir: str | Path | None, *, num_threads: int = 1, provider: str = "cpu") -> None:
        files = check_model_dir(self.name, model_dir)
        fetch = find_model(self.name).fetch_command
        with _refetch(fetch):
            check_metadata(files["encoder"], ENCODER_METADATA, "a streaming Paraformer encoder")
            check_metadata(files["decoder"], (), "an ONNX model")
        import sherpa_onnx  # lazy: optional dependency (the "sherpa" extra)

        self.files = files
        self._recognizer: Any = _load(
            lambda: sherpa_onnx.OnlineRecognizer.from_paraformer(
                tokens=str(files["tokens"]),
                encoder=str(files["encoder"]),
                decoder=str(files["decoder"]),
                num_threads=num_threads,
                sample_rate=_RATE,
                feature_dim=80,
                decoding_method="greedy_search",
                enable_endpoint_detection=False,
                provider=provider,
            ),
            files["encoder"].parent,
            fetch,
        )

    def new_utterance(self) -> SherpaParaformerUtterance:
        return SherpaParaformerUtterance(self._recognizer)


@contextmanager
def _refetch(fetch_command: str) -> Iterator[None]:
    """A file's ConfigurationError, with the command that fetches the model again."""
    try:
        yield
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc}; fetch the model again with: {fetch_command}") from None


def _load(build: Callable[[], Any], directory: Path, fetch_command: str) -> Any:
    """``build()``, with sherpa-onnx's load failures (a damaged file) as one line."""
    try:
        return build()
    except (RuntimeError, ValueError, AssertionError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigurationError(
            f"sherpa-onnx could not load the model in {directory} ({reason}); fetch it again with: {fetch_command}"
        ) from None
