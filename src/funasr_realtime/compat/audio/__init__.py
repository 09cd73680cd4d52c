"""``dashscope.audio``'s layout, so ``import funasr_realtime.compat as dashscope`` keeps
``dashscope.audio.asr.Recognition`` working. Only ``asr`` exists (no ``tts``, no ``qwen_*``)."""

from __future__ import annotations

from . import asr as asr

__all__ = ["asr"]
