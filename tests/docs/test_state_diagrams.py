"""The state diagrams in the docs are the tables of protocol/states.py and segments.py, drawn by a script.

docs/PROTOCOL.md §5.1 and the docstrings of the two table modules carry the diagrams between
``BEGIN GENERATED`` / ``END GENERATED`` markers; ``scripts/render_states.py`` redraws them.
A table change without the redrawn diagrams fails here, with the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from funasr_realtime.protocol.segments import SEGMENT_TRANSITIONS, SegmentState
from funasr_realtime.protocol.states import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientState,
    ClientTrigger,
    ServerState,
    mermaid,
)

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_states", ROOT / "scripts" / "render_states.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENDER = _script()


def test_the_docs_draw_the_tables_as_they_are() -> None:
    stale = RENDER.stale(ROOT)
    assert stale == [], f"{stale}: the state diagrams have drifted from protocol/states.py; run {RENDER.COMMAND}"


@pytest.mark.parametrize(
    ("table", "initial"),
    [
        (CLIENT_TRANSITIONS, ClientState.IDLE),
        (SERVER_TRANSITIONS, ServerState.IDLE),
        (SEGMENT_TRANSITIONS, SegmentState.STARTING),
    ],
)
def test_the_diagram_has_exactly_the_transitions_of_the_table(table: Mapping[Any, Enum], initial: Enum) -> None:
    lines = mermaid(table, initial).splitlines()
    assert lines[:2] == ["stateDiagram-v2", f"    [*] --> {initial.name}"]
    drawn: set[tuple[str, str, str]] = set()
    for line in lines[2:]:
        match = re.fullmatch(r"    (\w+) --> (\w+): (.+)", line)
        assert match, line
        drawn |= {(match[1], trigger, match[2]) for trigger in match[3].split(", ")}
    expected = {(source.name, trigger.value, target.name) for (source, trigger), target in table.items()}
    assert drawn == expected


def test_a_stale_diagram_is_redrawn_and_the_rest_is_kept() -> None:
    text = "before\n<!-- BEGIN GENERATED: client states -->\nold\n<!-- END GENERATED: client states -->\n"
    text += "<!-- BEGIN GENERATED: server states -->\n<!-- END GENERATED: server states -->\nafter\n"
    drawn = RENDER.render(text, ".md", ("client", "server"))
    assert drawn.startswith("before\n") and drawn.endswith("\nafter\n")
    assert "old" not in drawn
    assert f"receive task-failed, {ClientTrigger.PROTOCOL_VIOLATION.value}" in drawn
    assert RENDER.render(drawn, ".md", ("client", "server")) == drawn


def test_every_diagram_is_drawn_somewhere_and_every_file_names_known_ones() -> None:
    drawn = [name for names in RENDER.FILES.values() for name in names]
    assert set(drawn) == set(RENDER.DIAGRAMS) == {"client", "server", "segment"}


def test_missing_markers_are_an_error_not_a_silent_pass() -> None:
    with pytest.raises(ValueError, match="BEGIN GENERATED: client states"):
        RENDER.render("no diagrams here\n", ".md")
    with pytest.raises(ValueError, match="BEGIN GENERATED: segment states"):
        RENDER.render("no diagrams here\n", ".py", ("segment",))


def test_redrawing_writes_only_the_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RENDER.FILES:
        copy = tmp_path / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    first = next(iter(RENDER.FILES))
    stale = tmp_path / first
    stale.write_text(stale.read_text(encoding="utf-8").replace("stateDiagram-v2", "stateDiagram", 1), encoding="utf-8")
    assert RENDER.stale(tmp_path) == [first]
    written: list[Path] = []
    write_text = Path.write_text

    def recording(self: Path, *args: Any, **kwargs: Any) -> int:
        written.append(self)
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(RENDER, "ROOT", tmp_path)
    monkeypatch.setattr(Path, "write_text", recording)
    assert RENDER.main([]) == 0
    assert written == [stale]
    assert RENDER.stale(tmp_path) == []
