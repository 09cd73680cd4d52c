"""What the CLI shows on a terminal while it works: a progress bar and the live partial text.

The bar follows recognition, not upload: it shows how much of the file's audio the results
cover so far (:meth:`QuietView.recognized`), so it reaches 100 % when the last result is in,
not when the last byte is sent (the stream sends up to ``Resilience.max_lead`` ahead).
The live parts go to stderr and are transient, so stdout carries only the transcript, which
is written through :meth:`QuietView.emit` (so it lands above a live display on a terminal).
:func:`make_view` picks :class:`RichView` (``pip install "funasr-realtime[cli]"``) on a
terminal, :class:`PlainView` on a terminal without rich, and :class:`QuietView` otherwise.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any, TextIO

__all__ = ["PlainView", "QuietView", "RichView", "make_view"]


class QuietView:
    """Shows nothing (output is not a terminal). The base of the other views."""

    def begin(self, name: str, total_ms: int | None) -> None:
        """A file of ``total_ms`` of audio (None: not known yet, or the microphone) starts streaming."""

    def sent(self, ms: int) -> None:
        """Audio up to ``ms`` was handed to the stream (the total, when it was not known)."""

    def recognized(self, ms: int) -> None:
        """Results now cover the audio up to ``ms``: what the bar shows."""

    def partial(self, text: str) -> None:
        """The current sentence so far."""

    def final(self) -> None:
        """The current sentence is final (its text goes to stdout, not here)."""

    def end(self) -> None:
        """The file is done."""

    def emit(self, text: str) -> None:
        """Write transcript text to stdout."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def close(self) -> None:
        """Restore the terminal."""


class PlainView(QuietView):
    """The current partial on one rewritten stderr line (a terminal without rich)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._progress = _Progress()

    def begin(self, name: str, total_ms: int | None) -> None:
        self._progress = _Progress(total_ms)

    def sent(self, ms: int) -> None:
        self._progress.sent(ms)

    def recognized(self, ms: int) -> None:
        self._progress.done = max(self._progress.done, ms)

    def partial(self, text: str) -> None:
        percent = self._progress.percent
        prefix = f"{percent:3d}% " if percent is not None else ""
        width = shutil.get_terminal_size().columns - 6 - len(prefix)
        self._stream.write(f"\r\033[K{prefix}  … {text[-width:]}")
        self._stream.flush()

    def final(self) -> None:
        self._clear()

    def emit(self, text: str) -> None:
        self._clear()
        super().emit(text)

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._stream.write("\r\033[K")
        self._stream.flush()


class RichView(QuietView):
    """A rich progress bar per file with the live partial beside it; all of it transient."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[partial]}", style="italic"),
            console=console or Console(stderr=True),
            transient=True,
            redirect_stdout=False,  # stdout may be a pipe; emit() places transcript text itself
            redirect_stderr=False,
        )
        self._task: Any = None
        self._known = _Progress()
        self._progress.start()

    def begin(self, name: str, total_ms: int | None) -> None:
        self._known = _Progress(total_ms)
        self._task = self._progress.add_task(name, total=total_ms, partial="")

    def sent(self, ms: int) -> None:
        if self._known.sent(ms):
            self._progress.update(self._task, total=self._known.total)

    def recognized(self, ms: int) -> None:
        self._known.done = max(self._known.done, ms)
        self._progress.update(self._task, completed=self._known.done)

    def partial(self, text: str) -> None:
        self._progress.update(self._task, partial=text[-60:])

    def final(self) -> None:
        self._progress.update(self._task, partial="")

    def end(self) -> None:
        self._progress.remove_task(self._task)

    def emit(self, text: str) -> None:
        if sys.stdout.isatty():  # the same terminal: print above the live display, not through it
            self._progress.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        else:
            super().emit(text)

    def close(self) -> None:
        self._progress.stop()


class _Progress:
    """Recognized audio against the file's duration, or against the audio sent so far while the
    duration is unknown (containers whose headers do not say): then the total grows as it is read."""

    def __init__(self, total: int | None = None) -> None:
        self.total = total
        self._known = total is not None
        self.done = 0

    def sent(self, ms: int) -> bool:
        """Note audio sent up to ``ms``; True when that changed the total."""
        if self._known or (self.total is not None and ms <= self.total):
            return False
        self.total = ms
        return True

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, self.done * 100 // self.total)


def make_view(interactive: bool) -> QuietView:
    """The richest view the terminal and installed packages allow."""
    if not interactive:
        return QuietView()
    try:
        return RichView()
    except ImportError:
        return PlainView()
