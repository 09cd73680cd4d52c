"""Every ``docs/PROTOCOL.md §N`` that the code cites is a section of docs/PROTOCOL.md.

Docstrings cite the protocol notes by section (``docs/PROTOCOL.md §2.1``, ``§1 and §8``,
``§2-§4``); the notes keep their section numbers so the citations resolve. A citation of a
missing section, or of the notes' old name, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "docs" / "PROTOCOL.md"
#: Where citations are looked for: the package, and what documents or measures it.
CITING = ("src", "tests", "adapters", "bench", "scripts", "examples", "docs", "README.md")
SECTION = r"§\d+(?:\.\d+)*"
# "docs/PROTOCOL.md" then one or more sections, joined by ", ", " and " or "-" (a range), across
# line breaks and comment markers.
CITATION = re.compile(rf"docs/PROTOCOL\.md((?:[\s#,]*(?:and\s+)?{SECTION}(?:\s*-\s*{SECTION})?)+)")
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)*)[. ]", re.MULTILINE)


def headings(text: str) -> set[str]:
    """The section numbers of a Markdown document's numbered ``##`` / ``###`` headings."""
    return set(HEADING.findall(text))


def citations(text: str) -> list[str]:
    """The section numbers cited as ``docs/PROTOCOL.md §…`` in ``text`` (both ends of a range)."""
    return [number for match in CITATION.finditer(text) for number in re.findall(r"§(\d+(?:\.\d+)*)", match[1])]


def citing_files() -> list[Path]:
    found = []
    for name in CITING:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        found += [f for f in files if f.suffix in (".py", ".md") and f != NOTES and ".venv" not in f.parts]
    return found


def cited() -> dict[str, list[str]]:
    """Cited section numbers, by file relative to the repository root."""
    result = {}
    for path in citing_files():
        numbers = citations(path.read_text(encoding="utf-8", errors="replace"))
        if numbers:
            result[str(path.relative_to(ROOT))] = numbers
    return result


def test_the_notes_are_numbered_as_the_citations_expect() -> None:
    assert {"1", "2", "2.1", "2.4", "3", "4", "5", "5.1", "6", "6.5", "7", "8", "9", "10"} <= headings(
        NOTES.read_text(encoding="utf-8")
    )


@pytest.mark.parametrize(("name", "numbers"), sorted(cited().items()))
def test_every_cited_section_exists(name: str, numbers: list[str]) -> None:
    missing = sorted(set(numbers) - headings(NOTES.read_text(encoding="utf-8")))
    assert not missing, f"{name} cites docs/PROTOCOL.md §{', §'.join(missing)}, which has no such heading"


def test_the_package_cites_the_notes() -> None:
    in_src = [name for name in cited() if name.startswith("src/")]
    assert len(in_src) >= 8, in_src


OLD_NAME = "dashscope-protocol" + ".md"  # split, so this file does not cite it


def test_nothing_cites_the_notes_by_their_old_name() -> None:
    stale = [str(p.relative_to(ROOT)) for p in citing_files() if OLD_NAME in p.read_text(errors="replace")]
    assert stale == []


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("see docs/PROTOCOL.md §7.", ["7"]),
        ("(docs/PROTOCOL.md §1 and §8)", ["1", "8"]),
        ("docs/PROTOCOL.md §5, §8: timers", ["5", "8"]),
        ("Reference: docs/PROTOCOL.md §2-§4.", ["2", "4"]),
        ("the frame (docs/PROTOCOL.md\n  §6.5).", ["6.5"]),
        ("docs/PROTOCOL.md §2 (client messages), §3 (server events)", ["2"]),
        ("docs/PROTOCOL.md describes it", []),
    ],
)
def test_citations_are_read_as_written(text: str, numbers: list[str]) -> None:
    assert citations(text) == numbers


def test_headings_are_read_as_written() -> None:
    text = "# Title\n## 1. Endpoints\n### Handshake headers\n### 2.1 run-task (first)\n#### 3.1.1 deep\n"
    assert headings(text) == {"1", "2.1"}
