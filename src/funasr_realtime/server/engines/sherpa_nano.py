"""Fun-ASR-Nano through sherpa-onnx's offline recogniser (engine ``sherpa-funasr-nano``).

Fun-ASR-Nano is an audio encoder feeding a small LLM (Qwen3-0.6B) that writes the transcript
token by token.  Like SenseVoice it decodes whole segments: each VAD sentence is an
:class:`~._offline.OfflineUtterance`, re-decoded for partials at :data:`NANO_CADENCE` (sparser
than SenseVoice's, because every decode runs the LLM) and once, whole, for the final.

* Model folder: ``encoder_adaptor.int8.onnx``, ``llm.int8.onnx``, ``embedding.int8.onnx`` and
  the tokenizer folder ``Qwen3-0.6B`` (``tokenizer.json``, ``vocab.json``, ``merges.txt``), as
  the ``sherpa-onnx-funasr-nano-*`` archive holds them.  Files and metadata are checked before
  sherpa-onnx loads them (it ends the process on a missing key); problems are one
  :class:`~...protocol.ConfigurationError` line.
* Hot words and context are set per sentence on sherpa-onnx's stream options, so one
  recogniser serves every vocabulary (no recogniser per vocabulary): a task's vocabulary
  (:meth:`FunAsrNanoEngine.with_hot_words`) becomes the ``hotwords`` option, and its context
  (``input.context``, bounded as the service bounds it; :meth:`FunAsrNanoEngine.with_context`)
  becomes the ``user_prompt`` (see :func:`nano_options`).  Hot-word weights are not used: the
  model takes a plain list.
* Word timestamps: no.  sherpa-onnx spreads Nano's token times evenly over the audio rather
  than aligning them, so the engine reports no words (the final's ``words`` is empty).
* Text: spacing as the service writes it (:func:`~...text.tidy_spacing`).
* Threads: sherpa-onnx's Nano model reuses its decode buffers between calls, so one sentence
  decodes at a time per engine (a lock); other tasks' partials wait meanwhile.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from ...protocol import ConfigurationError
from ...protocol.context import ContextMessage
from ...protocol.vocabulary import HotWord
from ._offline import Cadence, Decoded, OfflineUtterance
from ._onnx_meta import check_metadata
from .catalog import check_model_dir
from .sherpa_offline import load_recognizer, pcm_to_float

__all__ = ["NANO_CADENCE", "FunAsrNanoEngine", "NanoView", "nano_options"]

logger = logging.getLogger(__name__)

#: Partials after 1.5 s of new audio at least, and half the length decoded last (an LLM decode
#: per partial): at most 3 L + 4.5 s of audio for a sentence of length L, none past 20 s.
NANO_CADENCE = Cadence(interval_ms=1500, growth=0.5, max_ms=20_000)
#: What sherpa-onnx needs in the tokenizer folder.
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt")
_ENCODER_KEYS = ("lfr_window_size", "lfr_window_shift", "llm_dim")
_LLM_KEYS = ("vocab_size", "model_type")
# The Chinese strings below hold full-width punctuation on purpose (RUF001): it is the prompt's.
# sherpa-onnx splits the hotwords option on these (ASCII and full-width comma and semicolon, newline, tab).
_SEPARATORS = re.compile(r"[,;\n\r\t，；]+")  # noqa: RUF001
# Fun-ASR-Nano's own hot-word prompt (as sherpa-onnx builds it), used when context comes too.
_HOT_WORD_PROMPT = (
    "请结合上下文信息，更加准确地完成语音转写任务。如果没有相关信息，我们会留空。\n\n\n**上下文信息：**\n\n\n"  # noqa: RUF001
)
_PREVIOUS = "前文：{}\n"  # noqa: RUF001  # "previous text:" -- the context
_HOT_WORDS = "热词列表：[{}]\n"  # noqa: RUF001  # "hot word list:"
_TASK = "语音转写："  # noqa: RUF001  # "transcribe the speech:"


def nano_options(hot_words: Sequence[str], context: Sequence[ContextMessage]) -> dict[str, str]:
    """The stream options that give Nano ``hot_words`` and ``context`` (none: ``{}``).

    Hot words alone: ``hotwords`` (comma-separated).  Context alone: ``user_prompt`` "previous
    text: <the messages' texts>", then "transcribe the speech:", the form sherpa-onnx documents.
    Both: one ``user_prompt`` holding Nano's hot-word prompt, the list and the context, and
    ``hotwords`` cleared, because sherpa-onnx uses a ``user_prompt`` verbatim only when no hot
    words are set.  ``itn`` is set to "1" with a ``user_prompt`` for the same reason.
    """
    texts = "\n".join(message.text for message in context if message.text.strip())
    if not texts:
        return {"hotwords": ",".join(hot_words)} if hot_words else {}
    previous = _PREVIOUS.format(texts)
    if not hot_words:
        return {"user_prompt": previous + _TASK, "itn": "1"}
    listed = _HOT_WORDS.format(", ".join(hot_words))
    return {"hotwords": "", "itn": "1", "user_prompt": _HOT_WORD_PROMPT + listed + previous + _TASK}


class FunAsrNanoEngine:
    """Fun-ASR-Nano from ``model_dir`` (see the module docstring); thread-safe.

    ``cadence``: when partials are re-decoded; ``num_threads``: onnxruntime threads;
    ``max_new_tokens``: the longest transcript the LLM writes per decode.  Raises
    ``ConfigurationError`` for a missing or wrong file, ``ImportError`` without sherpa-onnx.
    """

    name: str = "sherpa-funasr-nano"
    synthetic: bool = False

    def __init__(
        self,
        model_dir: str | Path | None,
        *,
        num_threads: int = 2,
        max_new_tokens: int = 512,
        cadence: Cadence | None = None,
    ) -> None:
        files = check_model_dir(self.name, model_dir)
        for name in TOKENIZER_FILES:
            if not (files["tokenizer"] / name).is_file():
                raise ConfigurationError(f"{files['tokenizer']} has no {name} (the Fun-ASR-Nano tokenizer)")
        check_metadata(files["encoder_adaptor"], _ENCODER_KEYS, "a Fun-ASR-Nano encoder_adaptor")
        llm = check_metadata(files["llm"], _LLM_KEYS, "a Fun-ASR-Nano llm")
        if "kv_delta" not in llm["model_type"]:
            raise ConfigurationError(
                f"{files['llm']} is not a KV-delta Fun-ASR-Nano llm (model_type {llm['model_type']!r})"
            )
        check_metadata(files["embedding"], (), "a Fun-ASR-Nano embedding")
        self.cadence = cadence or NANO_CADENCE
        self._lock = threading.Lock()
        self._recognizer = load_recognizer(
            "from_funasr_nano",
            files["llm"],
            encoder_adaptor=str(files["encoder_adaptor"]),
            llm=str(files["llm"]),
            embedding=str(files["embedding"]),
            tokenizer=str(files["tokenizer"]),
            num_threads=num_threads,
            max_new_tokens=max_new_tokens,
        )

    def new_utterance(self) -> OfflineUtterance:
        return self._utterance({})

    def with_hot_words(self, words: Sequence[HotWord]) -> NanoView:
        """This engine with ``words`` as Nano's hot words, for one task."""
        return NanoView(self, words)

    def with_context(self, words: Sequence[HotWord], context: Sequence[ContextMessage]) -> NanoView:
        """This engine with ``words`` and ``context`` in Nano's prompt, for one task."""
        view = NanoView(self, words)
        view.set_context(context)
        return view

    def _utterance(self, options: dict[str, str]) -> OfflineUtterance:
        return OfflineUtterance(lambda pcm: self._decode(pcm, options), self.cadence)

    def _decode(self, pcm16k: bytes, options: dict[str, str]) -> Decoded:
        stream = self._recognizer.create_stream()
        for key, value in options.items():
            stream.set_option(key, value)
        stream.accept_waveform(16000, pcm_to_float(pcm16k))
        with self._lock:
            self._recognizer.decode_stream(stream)
        return Decoded(stream.result.text)  # no times: Nano's are spread evenly, not aligned


class NanoView:
    """One task's view of a :class:`FunAsrNanoEngine` with its hot words and context.

    A :class:`~.base.BiasedEngine`; :meth:`set_context` (a continue-task's new context) applies
    from the next sentence on.  Holds no resources: ``close`` only marks it closed.
    """

    name: str = "sherpa-funasr-nano"
    synthetic: bool = False

    def __init__(self, engine: FunAsrNanoEngine, words: Sequence[HotWord]) -> None:
        self._engine = engine
        self.hot_words = tuple(dict.fromkeys(text for w in words if (text := _SEPARATORS.sub(" ", w.text).strip())))
        self._context: tuple[ContextMessage, ...] = ()

    @property
    def options(self) -> dict[str, str]:
        """The stream options each new sentence gets (:func:`nano_options`)."""
        return nano_options(self.hot_words, self._context)

    def set_context(self, context: Sequence[ContextMessage]) -> None:
        self._context = tuple(context)

    def new_utterance(self) -> OfflineUtterance:
        return self._engine._utterance(self.options)

    def close(self) -> None:
        """Nothing to free (the options live in each sentence's stream); safe to repeat."""
