"""Recognition engines for the local server.

``create_engine(name, grammar=...)`` builds one of :data:`ENGINE_NAMES`:

* ``"pocketsphinx"`` -- real English recognition (default); ``grammar`` is an
  optional JSGF path or text that restricts it to known sentences;
* ``"synthetic"`` -- placeholder words for load tests (``grammar`` ignored).

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

ENGINE_NAMES: tuple[str, ...] = ("pocketsphinx", "synthetic")


def create_engine(
    name: str = "pocketsphinx", *, grammar: str | Path | None = None, max_decoders: int | None = None
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
    raise ValueError(f"unknown engine {name!r}; known engines: {', '.join(ENGINE_NAMES)}")
