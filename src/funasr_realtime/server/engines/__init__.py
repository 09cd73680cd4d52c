"""Recognition engines for the local server.

``create_engine(name, grammar=...)`` builds one of :data:`ENGINE_NAMES`:

* ``"pocketsphinx"`` -- real English recognition (default); ``grammar`` is an
  optional JSGF path or text that restricts it to known sentences;
* ``"synthetic"`` -- placeholder words for load tests (``grammar`` ignored);
* ``"replay"`` -- plays a recorded fixture back in every task (``replay``: a bundled
  name or a path, default ``"zh"``; see :mod:`..replay`);
* ``"sherpa-paraformer"`` -- the streaming zh + en Paraformer through sherpa-onnx, from the
  model folder ``model_dir`` (:mod:`.catalog` says where to get it; see :mod:`.sherpa_paraformer`);
* ``"sherpa-sensevoice"``, ``"sherpa-funasr-nano"`` -- the offline SenseVoice and Fun-ASR-Nano
  models through sherpa-onnx, from ``model_dir``: partials re-decode the open sentence at a
  bounded cadence (see :mod:`.sherpa_offline` and :mod:`.sherpa_nano`).

``max_decoders`` bounds the pocketsphinx decoders alive at once (memory: see
:mod:`.pocketsphinx`); None keeps its default (:data:`.pocketsphinx.DEFAULT_MAX_DECODERS`).

Engine modules import their heavy dependencies only when an engine is
created, so this package imports without them.  Unknown names raise
``ValueError`` listing the known ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .base import Engine, Hypothesis, Utterance, WordTiming

__all__ = ["ENGINE_NAMES", "Engine", "Hypothesis", "Utterance", "WordTiming", "create_engine"]

logger = logging.getLogger(__name__)

ENGINE_NAMES: tuple[str, ...] = (
    "pocketsphinx",
    "synthetic",
    "replay",
    "sherpa-paraformer",
    "sherpa-sensevoice",
    "sherpa-funasr-nano",
)


def create_engine(
    name: str = "pocketsphinx",
    *,
    grammar: str | Path | None = None,
    max_decoders: int | None = None,
    replay: str | Path | None = None,
    model_dir: str | Path | None = None,
) -> Engine:
    if name == "pocketsphinx":
        from .pocketsphinx import PocketsphinxEngine

        if max_decoders is None:
            return PocketsphinxEngine(grammar)
        return PocketsphinxEngine(grammar, max_decoders=max_decoders)
    if name == "synthetic":
        from .synthetic import SyntheticEngine

        if grammar is not None:
            logger.info("the synthetic engine ignores the grammar")
        return SyntheticEngine()
    if name == "replay":
        from .replay import DEFAULT_FIXTURE, ReplayEngine

        return ReplayEngine(replay if replay is not None else DEFAULT_FIXTURE)
    if name.startswith("sherpa-") and name in ENGINE_NAMES:
        return _sherpa_engine(name, model_dir)
    raise ValueError(f"unknown engine {name!r}; known engines: {', '.join(ENGINE_NAMES)}")


def _sherpa_engine(name: str, model_dir: str | Path | None) -> Engine:
    """One of the sherpa-onnx engines, from the model folder ``model_dir``."""
    if name == "sherpa-paraformer":
        from .sherpa_paraformer import SherpaParaformerEngine

        return SherpaParaformerEngine(model_dir)
    if name == "sherpa-sensevoice":
        from .sherpa_offline import SenseVoiceEngine

        return SenseVoiceEngine(model_dir)
    from .sherpa_nano import FunAsrNanoEngine

    return FunAsrNanoEngine(model_dir)
