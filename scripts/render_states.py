"""Draw the state diagrams from their tables: ``protocol/states.py`` and ``protocol/segments.py``.

The diagrams live between two marker lines, ``BEGIN GENERATED: <name> states`` and
``END GENERATED: <name> states``, in the files of :data:`FILES`: Mermaid blocks in
docs/PROTOCOL.md §5.1, literal blocks in the module docstrings of the two table modules.
Everything between the markers is replaced; everything else is left as it is.

    python scripts/render_states.py          # rewrite the diagrams in place
    python scripts/render_states.py --check  # exit 1, naming the stale files, change nothing

``tests/docs/test_state_diagrams.py`` runs the check, so a table change without its
diagram fails the suite.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from funasr_realtime.protocol.segments import SEGMENT_TRANSITIONS, SegmentState
from funasr_realtime.protocol.states import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientState,
    ServerState,
    mermaid,
)

ROOT = Path(__file__).resolve().parents[1]
DIAGRAMS = {
    "client": mermaid(CLIENT_TRANSITIONS, ClientState.IDLE),
    "server": mermaid(SERVER_TRANSITIONS, ServerState.IDLE),
    "segment": mermaid(SEGMENT_TRANSITIONS, SegmentState.STARTING),
}
#: The files holding the diagrams (relative to the repository root), and which ones each holds.
FILES = {
    "docs/PROTOCOL.md": ("client", "server", "segment"),
    "src/funasr_realtime/protocol/states.py": ("client", "server"),
    "src/funasr_realtime/protocol/segments.py": ("segment",),
}
COMMAND = "python scripts/render_states.py"


def _body(diagram: str, suffix: str) -> list[str]:
    """The lines between the markers: a fenced block in Markdown, a literal block in a docstring."""
    if suffix == ".md":
        return ["```mermaid", *diagram.splitlines(), "```"]
    return ["::", "", *("    " + line for line in diagram.splitlines()), ""]


def render(text: str, suffix: str, names: tuple[str, ...] = tuple(DIAGRAMS)) -> str:
    """``text`` with the diagrams ``names`` redrawn; raises ``ValueError`` if one's markers are missing."""
    lines = text.splitlines()
    for name in names:
        diagram = DIAGRAMS[name]
        begin = _find(lines, f"BEGIN GENERATED: {name} states", 0)
        end = _find(lines, f"END GENERATED: {name} states", begin + 1)
        lines[begin + 1 : end] = _body(diagram, suffix)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _find(lines: list[str], marker: str, start: int) -> int:
    for index in range(start, len(lines)):
        if marker in lines[index]:
            return index
    raise ValueError(f"no line with {marker!r}")


def _redrawn(root: Path) -> Iterator[tuple[str, Path, str]]:
    """``(name, path, redrawn text)`` of each file of :data:`FILES` whose diagrams differ from the tables."""
    for name, diagrams in FILES.items():
        path = root / name
        text = path.read_text(encoding="utf-8")
        drawn = render(text, path.suffix, diagrams)
        if drawn != text:
            yield name, path, drawn


def stale(root: Path = ROOT) -> list[str]:
    """The files of :data:`FILES` whose diagrams differ from the tables."""
    return [name for name, _path, _drawn in _redrawn(root)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"{name}: the state diagrams differ from their tables; run {COMMAND}", file=sys.stderr)
        return 1 if names else 0
    for _name, path, drawn in _redrawn(ROOT):  # files already up to date are left untouched
        path.write_text(drawn, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
