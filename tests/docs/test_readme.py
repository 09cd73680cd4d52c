"""Every code block in README.md and the adapters' READMEs runs as written, or is marked a fragment.

The convention, one for the three files:

* **Fragment**: the word ``fragment`` after the language in the fence's info string
  (```` ```python fragment ````, ```` ```sh fragment ````). Renderers (GitHub, the package
  index) take the first word as the language, so the block still highlights. For blocks
  that are part of a bigger program, hold placeholders (``sk-...``, ``PORT``, ``llm=...``),
  install packages, or need the cloud or a microphone. The prose around a fragment says so
  too. A Python fragment must still compile; nothing else is checked.
* **Display**: no language, or ``text`` (a source tree, some output). Never run.
* **Runnable**: every other ``python`` block and every ``sh``/``bash``/``shell`` block. Any
  other language must be a fragment, so no new snippet goes unchecked.

Each runnable block runs in a subprocess, in a fresh directory laid out like a checkout
(``speech.wav`` is the bundled long recording; ``tests/fixtures/speech/`` and ``examples/``
are copies), with this interpreter's ``bin`` first on ``PATH`` (``python`` and
``funasr-realtime`` are the project's), no API key, and ``$DASHSCOPE_WEBSOCKET_BASE_URL``
pointing at a local grammar server: what the README tells a reader to set up. A Python
block is saved as a file and run; a shell block runs as one ``bash -euo pipefail`` script,
except that a ``funasr-realtime serve`` command, alone in its block, runs until it says
where it listens and is then stopped.

Meaningful output: a server's first line is ``listening on ws://127.0.0.1:…``; a block
whose commands all end in ``--help`` or ``--version`` prints something; every other block
prints or writes (new files in its directory count) every word of the recording's six
sentences in order, i.e. no word is lost, and no block prints a traceback.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from funasr_realtime.server.thread import ServerThread
from tests.conftest import SPEECH, load_speech
from tests.timing import scaled

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "adapters/pipecat/README.md", "adapters/livekit/README.md")
PYTHON = frozenset({"python", "py"})
SHELL = frozenset({"sh", "bash", "shell"})
DISPLAY = frozenset({"", "text"})
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
RECORDING = load_speech("long")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, whether it is marked, its code."""

    doc: str
    line: int
    language: str
    fragment: bool
    code: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def runnable(self) -> bool:
        return not self.fragment and self.language in PYTHON | SHELL


def extract(doc: str, text: str) -> list[Block]:
    """The fenced blocks of a CommonMark text, in order (``line`` is the opening fence's, 1-based)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        words = opening["info"].split()
        body: list[str] = []
        j = i + 1
        # A fence closes with the same character, at least as long, and nothing after it.
        while j < len(lines) and not re.fullmatch(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[j]):
            body.append(re.sub(rf"^ {{0,{indent}}}", "", lines[j]))  # the fence's indent, as CommonMark does
            j += 1
        language = words[0].lower() if words else ""
        blocks.append(Block(doc, i + 1, language, "fragment" in words[1:], "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for doc in DOCS for block in extract(doc, (ROOT / doc).read_text(encoding="utf-8"))]


BLOCKS = all_blocks()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower())


def in_order(needle: list[str], haystack: list[str]) -> bool:
    """Whether ``needle`` is a subsequence of ``haystack``: every word, in order."""
    remaining = iter(haystack)
    return all(word in remaining for word in needle)


# ----------------------------------------------------------------------------------------
# The convention itself


def test_extractor_tells_fragments_displays_and_runnable_blocks_apart() -> None:
    text = "\n".join(
        [
            "```python fragment",
            "stt = Service(language=Language.ZH)",
            "```",
            "",
            "~~~~sh",
            "echo ```not a fence```",
            "~~~~",
            "```",
            "src/  the tree",
            "```",
            "   ```toml",
            "   key = 1",
            "   ```",
        ]
    )
    python, shell, tree, toml = extract("X.md", text)
    assert (python.language, python.fragment, python.runnable, python.line) == ("python", True, False, 1)
    assert (shell.language, shell.runnable, shell.code) == ("sh", True, "echo ```not a fence```\n")
    assert (tree.language, tree.runnable) == ("", False)
    assert (toml.language, toml.fragment, toml.code) == ("toml", False, "key = 1\n")


def test_every_block_is_runnable_a_fragment_or_a_display() -> None:
    """A new snippet is either run by this test or marked: nothing slips through unchecked."""
    unmarked = [
        f"{block.id}: a ```{block.language} block is neither run here nor marked ```{block.language} fragment"
        for block in BLOCKS
        if not block.fragment and block.language not in PYTHON | SHELL | DISPLAY
    ]
    assert not unmarked, "\n".join(unmarked)
    for doc in DOCS:
        assert any(b.runnable and b.language in PYTHON for b in BLOCKS if b.doc == doc), f"{doc}: no runnable example"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.fragment and b.language in PYTHON], ids=lambda b: b.id)
def test_python_fragment_compiles(block: Block) -> None:
    compile(block.code, block.id, "exec")


def test_serve_commands_stand_alone() -> None:
    """A server runs until stopped, so a block that starts one holds nothing else to run."""
    for block in BLOCKS:
        commands = shell_commands(block.code) if block.runnable and block.language in SHELL else []
        if any(is_serve(command) for command in commands):
            assert len(commands) == 1, f"{block.id}: `funasr-realtime serve` must be alone in its block"


# ----------------------------------------------------------------------------------------
# Running the runnable ones


def shell_commands(code: str) -> list[str]:
    """The commands of a shell block: non-blank, non-comment lines, continuations joined."""
    joined = re.sub(r"\\\n", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def is_serve(command: str) -> bool:
    return re.match(r"funasr-realtime\s+serve\b", command) is not None


@pytest.fixture
def checkout() -> Iterator[Path]:
    """A fresh directory laid out like a checkout, with the Quick start's ``speech.wav``."""
    with tempfile.TemporaryDirectory(prefix="readme-") as name:
        where = Path(name)
        shutil.copytree(SPEECH, where / "tests" / "fixtures" / "speech")
        shutil.copytree(ROOT / "examples", where / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(RECORDING.path, where / "speech.wav")
        yield where


def environment(server: ServerThread) -> dict[str, str]:
    """The reader's shell after the README's set-up: the project's commands, a local server, no key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "LIVEKIT_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DASHSCOPE_WEBSOCKET_BASE_URL"] = server.url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_server(command: str, cwd: Path, env: dict[str, str]) -> str:
    """Start ``command``, return its first line once printed, then stop it (bounded throughout)."""
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + scaled(60)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"\n" not in output and selector.select(timeout=max(0.0, deadline - time.monotonic())):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:  # exited before saying where it listens
                    break
                output += chunk
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=scaled(10))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=scaled(10))
        process.stdout.close()
    return output.decode(errors="replace").partition("\n")[0]


def new_files_text(cwd: Path, before: set[Path]) -> str:
    """What the block wrote: the text of every file that was not there before it ran."""
    texts = []
    for path in sorted(p for p in cwd.rglob("*") if p.is_file() and p not in before):
        if "__pycache__" not in path.parts and path.stat().st_size < 1_000_000:
            texts.append(path.read_text(encoding="utf-8", errors="ignore"))
    return "\n".join(texts)


RUNNABLE = [b for b in BLOCKS if b.runnable]


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_runnable_block_runs_as_written(block: Block, grammar_server: ServerThread, checkout: Path) -> None:
    env = environment(grammar_server)
    if block.language in SHELL and any(is_serve(c) for c in shell_commands(block.code)):
        (command,) = shell_commands(block.code)
        first = run_server(command, checkout, env)
        assert re.fullmatch(r"listening on ws://127\.0\.0\.1:\d+/api-ws/v1/inference", first), first
        return

    if block.language in PYTHON:
        (checkout / "snippet.py").write_text(block.code, encoding="utf-8")
        argv = [sys.executable, "snippet.py"]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", block.code]
    before = {p for p in checkout.rglob("*") if p.is_file()}
    done = subprocess.run(argv, cwd=checkout, env=env, capture_output=True, text=True, timeout=scaled(90), check=False)
    report = f"{block.id} exited {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    assert "Traceback (most recent call last)" not in done.stderr, report

    commands = shell_commands(block.code) if block.language in SHELL else []
    if commands and all(c.split("#")[0].split()[-1] in ("--help", "--version") for c in commands):
        assert done.stdout.strip(), report
        return
    produced = done.stdout + "\n" + new_files_text(checkout, before)
    assert in_order(words(RECORDING.text), words(produced)), f"words of the recording missing\n{report}"
