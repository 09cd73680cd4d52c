"""The ``replay`` engine: every task plays a recorded fixture back (see :mod:`..replay`).

It recognizes nothing and needs no model: results come from the fixture at the audio time
each is due, whatever the audio says, so clients can be tested deterministically on
realistic Fun-ASR output (Chinese, mixed Chinese and English, punctuation, revisions,
heartbeats, usage).  It is a :class:`~.base.TranscribingEngine`: tasks use its transcriber
and no VAD.  Hot words and context change nothing in the results (context is still
validated and reported in the finals' debug output, as for every engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from ..replay import ReplayFixture, ReplayTranscriber, load_fixture

__all__ = ["DEFAULT_FIXTURE", "ReplayEngine"]

#: The bundled fixture an engine plays when given none.
DEFAULT_FIXTURE = "zh"


class ReplayEngine:
    """Hands every task a :class:`~..replay.ReplayTranscriber` of one fixture.

    ``fixture``: a loaded :class:`~..replay.ReplayFixture`, a bundled name or a path
    (loaded at once; a bad one raises a one-line ``ConfigurationError``).
    """

    name: str = "replay"
    synthetic: bool = False  # the texts are recorded transcripts, sent as they are

    def __init__(self, fixture: ReplayFixture | str | Path = DEFAULT_FIXTURE) -> None:
        self.fixture = fixture if isinstance(fixture, ReplayFixture) else load_fixture(fixture)

    def new_transcriber(self) -> ReplayTranscriber:
        return ReplayTranscriber(self.fixture)

    def new_utterance(self) -> NoReturn:
        """Never used: tasks of a transcribing engine take :meth:`new_transcriber`."""
        raise RuntimeError("the replay engine replays whole tasks; it has no utterances")
