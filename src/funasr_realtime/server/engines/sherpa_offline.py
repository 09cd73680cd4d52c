"""SenseVoice through sherpa-onnx's offline recogniser (engine ``sherpa-sensevoice``).

SenseVoice decodes a whole segment at once.  The server's VAD cuts a task into sentences; each
sentence is an :class:`~._offline.OfflineUtterance`, which re-decodes the open segment for
partials at a bounded cadence and decodes it once more, whole, for the final (see
:mod:`._offline` for the bound).

* Model folder: ``model.int8.onnx`` (or ``model.onnx``) and ``tokens.txt``, as the
  ``sherpa-onnx-sense-voice-*`` archives hold them (:func:`.catalog.check_model_dir`).  The
  model's metadata and the token table are checked before sherpa-onnx loads them, because
  sherpa-onnx ends the process on a model that lacks a metadata key; every problem is one
  :class:`~...protocol.ConfigurationError` line.
* Text: sherpa-onnx drops SenseVoice's four leading tags (language, emotion, event, ITN) from
  the text; any tag left is removed, and spacing follows the service (no spaces inside CJK
  text, one around Latin words: :func:`~...text.tidy_spacing`).  ``use_itn`` (default on)
  gives punctuation and digits, as the service writes them.
* The language SenseVoice detects is not reported: the DashScope result has no language field
  (Fun-ASR sends none either); :attr:`SenseVoiceEngine.last_language` keeps the last one seen,
  for logs and tests.
* Word timestamps: yes.  sherpa-onnx gives each token's start (the CTC peak, 60 ms frames);
  words are built from tokens by :func:`~._offline.timed_words`.
* 8 kHz input: the task resamples to 16 kHz before the engine sees it.
* Threads: the recogniser is shared by every task; its ``decode_stream`` releases the GIL and
  keeps no state between calls for SenseVoice, so sentences decode in parallel on the server's
  engine threads (each decode uses ``num_threads`` onnxruntime threads).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ...protocol import ConfigurationError
from ._offline import Cadence, Decoded, OfflineUtterance
from ._onnx_meta import check_metadata
from .catalog import check_model_dir

__all__ = ["SENSE_VOICE_LANGUAGES", "SenseVoiceEngine", "load_recognizer", "pcm_to_float", "token_count"]

logger = logging.getLogger(__name__)

#: The ``language`` values SenseVoice accepts ("auto" detects it per segment).
SENSE_VOICE_LANGUAGES = ("auto", "zh", "en", "ja", "ko", "yue")
#: Metadata keys sherpa-onnx requires of a SenseVoice model (it exits the process without them).
_SENSE_VOICE_KEYS = (
    "vocab_size",
    "lfr_window_size",
    "lfr_window_shift",
    "normalize_samples",
    "with_itn",
    "without_itn",
    *(f"lang_{language}" for language in SENSE_VOICE_LANGUAGES),
    "neg_mean",
    "inv_stddev",
)


class SenseVoiceEngine:
    """SenseVoice from ``model_dir`` (see the module docstring); thread-safe.

    ``cadence``: when partials are re-decoded (:class:`~._offline.Cadence`); ``num_threads``:
    onnxruntime threads per decode.  Raises ``ConfigurationError`` for a missing or wrong file,
    ``ImportError`` without sherpa-onnx.
    """

    name: str = "sherpa-sensevoice"
    synthetic: bool = False

    def __init__(
        self,
        model_dir: str | Path | None,
        *,
        language: str = "auto",
        use_itn: bool = True,
        num_threads: int = 2,
        cadence: Cadence | None = None,
    ) -> None:
        if language not in SENSE_VOICE_LANGUAGES:
            raise ConfigurationError(f"SenseVoice language must be one of {', '.join(SENSE_VOICE_LANGUAGES)}")
        files = check_model_dir(self.name, model_dir)
        metadata = check_metadata(files["model"], _SENSE_VOICE_KEYS, "a SenseVoice model")
        _check_tokens(files["tokens"], int(metadata["vocab_size"]))
        self.cadence = cadence or Cadence()
        self.last_language = ""
        self._recognizer = load_recognizer(
            "from_sense_voice",
            files["model"],
            model=str(files["model"]),
            tokens=str(files["tokens"]),
            language=language,
            use_itn=use_itn,
            num_threads=num_threads,
        )

    def new_utterance(self) -> OfflineUtterance:
        return OfflineUtterance(self._decode, self.cadence)

    def _decode(self, pcm16k: bytes) -> Decoded:
        stream = self._recognizer.create_stream()
        stream.accept_waveform(16000, pcm_to_float(pcm16k))
        self._recognizer.decode_stream(stream)
        result = stream.result
        self.last_language = str(result.lang).strip("<|>")
        return Decoded(result.text, tuple(result.tokens), tuple(result.timestamps))


def load_recognizer(factory: str, named: Path, **options: Any) -> Any:
    """``sherpa_onnx.OfflineRecognizer.<factory>(**options)``, its load errors as one line.

    ``named`` is the file named in the message when onnxruntime cannot load it (a corrupt or
    truncated file).  sherpa-onnx is imported here, not with the module.
    """
    import sherpa_onnx  # lazy: optional dependency (the ``sherpa`` extra)

    try:
        return getattr(sherpa_onnx.OfflineRecognizer, factory)(**options)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(f"sherpa-onnx cannot load {named}: {reason}") from None


def pcm_to_float(pcm16k: bytes) -> Any:
    """16-bit PCM as the float32 samples in [-1, 1) that sherpa-onnx takes."""
    return np.frombuffer(pcm16k[: len(pcm16k) & ~1], dtype=np.int16).astype(np.float32) / 32768.0


def token_count(tokens: Path) -> int:
    """How many ids ``tokens.txt`` defines (one past the largest id); 0 if it has none."""
    largest = -1
    for line in tokens.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[-1].isdigit():
            largest = max(largest, int(fields[-1]))
    return largest + 1


def _check_tokens(tokens: Path, vocab_size: int) -> None:
    """sherpa-onnx fails in the middle of a decode on an id its token table lacks: check first."""
    try:
        count = token_count(tokens)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {tokens}: {exc}") from None
    if count < vocab_size:
        raise ConfigurationError(f"{tokens} defines {count} tokens but the model has {vocab_size}")
