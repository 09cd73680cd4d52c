"""Names accepted by the plugin's options (plain strings work too)."""

from __future__ import annotations

from typing import Literal

__all__ = ["Endpointing", "FunAsrModels"]

#: Models the core's capability table knows; dated snapshots and newer names also work.
FunAsrModels = Literal[
    "fun-asr-realtime",
    "fun-asr-realtime-2025-11-07",
    "fun-asr-flash-8k-realtime",
    "paraformer-realtime-v2",
    "paraformer-realtime-8k-v2",
]

#: Who ends the user's turn.
#:
#: * ``"framework"`` (default): LiveKit's VAD / turn detector. It calls ``flush()`` at the
#:   end of speech; the plugin finalizes the Fun-ASR task at once and sends END_OF_SPEECH
#:   after the flushed final. Fun-ASR's own sentence ends only split the text into FINALs.
#: * ``"server"``: Fun-ASR's sentence segmentation (``max_sentence_silence``, semantic
#:   punctuation) ends the turn: END_OF_SPEECH follows every final sentence. Use it with
#:   ``AgentSession(turn_detection="stt")``.
Endpointing = Literal["framework", "server"]
