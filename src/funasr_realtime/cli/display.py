"""What the CLI shows on a terminal while it works: a progress bar and the live partial text.

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

    def begin(self, name: str, total_bytes: int | None) -> None:
        """A file (or the microphone, ``total_bytes`` None) starts streaming."""

    def advance(self, sent_bytes: int) -> None:
        """``sent_bytes`` more bytes were sent."""

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

    def partial(self, text: str) -> None:
        width = shutil.get_terminal_size().columns - 6
        self._stream.write(f"\r\033[K  … {text[-width:]}")
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
        self._progress.start()

    def begin(self, name: str, total_bytes: int | None) -> None:
        self._task = self._progress.add_task(name, total=total_bytes, partial="")

    def advance(self, sent_bytes: int) -> None:
        self._progress.advance(self._task, sent_bytes)

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


def make_view(interactive: bool) -> QuietView:
    """The richest view the terminal and installed packages allow."""
    if not interactive:
        return QuietView()
    try:
        return RichView()
    except ImportError:
        return PlainView()
