"""Replay: recorded Fun-ASR results played back by the local server, deterministically.

The ``replay`` engine (``funasr-realtime serve --engine replay [--replay FIXTURE]``) does not
recognize anything: every task plays one :class:`ReplayFixture` back, a recorded sequence of
``result-generated`` payloads, each sent once the task has received ``at_ms`` of audio.  The
timing follows the audio received, never a clock, so a test gets the same results at any
send pace; the audio's content is ignored.  It exists to test clients on realistic output
(Chinese and mixed Chinese/English text, words with punctuation, partial revisions,
heartbeats, usage) without a model or a cloud account.

Bundled fixtures (:data:`BUNDLED`): ``zh`` (Chinese, 10.7 s) and ``zh-en`` (mixed Chinese and
English, 9.5 s).  A fixture is a JSON file; see :mod:`.fixture` for its format and the
rules it is checked against, and :mod:`.transcriber` for how a task plays it (every task
from the start; finish-task flushes the sentence in progress).  The engine is
:class:`~funasr_realtime.server.engines.replay.ReplayEngine`; in memory, with no socket:
``MockTransport(recognizer(ReplayEngine("zh")))`` (:mod:`funasr_realtime.testing`).
"""

from __future__ import annotations

from .fixture import BUNDLED, FORMAT, ReplayFixture, ReplayResult, load_fixture
from .transcriber import ReplayTranscriber

__all__ = ["BUNDLED", "FORMAT", "ReplayFixture", "ReplayResult", "ReplayTranscriber", "load_fixture"]
