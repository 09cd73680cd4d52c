"""Hot spots from a py-spy recording (``py-spy record --format raw``: collapsed stacks).

py-spy samples the worker from outside the process (nothing is instrumented). Samples
taken while the event loop waits in ``epoll`` and samples of start-up imports are left
out, so shares are of the *busy* time of the steady state.

Each busy sample is attributed three ways:

* *self*: the innermost frame (where the CPU is);
* *ours*: every ``funasr_realtime`` function on the stack (inclusive time of our code);
* *layer*: the innermost frame that belongs to a package we can name (``funasr_realtime``,
  ``websockets``, ``pydantic``, the benchmark's own code) — stdlib helpers such as
  ``contextlib`` count for whoever called them; what is left is the asyncio event loop.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]+?)(?::(?P<line>\d+))?\)$")
_LAYERS = (
    ("funasr_realtime/", "funasr-realtime"),
    ("websockets/", "websockets"),
    ("pydantic", "pydantic"),
    ("bench/", "benchmark harness (pacing, frames)"),
)


# Paths under the checkout are shown relative to it, wherever it lives.
_REPO_ROOT = str(Path(__file__).resolve().parents[1]) + "/"


def _where(frame: str) -> str:
    """``file.py:function`` of a collapsed-stack frame ``function (path/file.py:123)``."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/src/", "lib/python3.11/", _REPO_ROOT):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{match.group('function')}"


_SOCKET_CALLS = ("_SelectorSocketTransport.write", "_SelectorSocketTransport._read_ready", "SystemRandom.randbytes")


def _layer(frames: list[str]) -> str:
    if frames[-1].endswith(_SOCKET_CALLS):
        return "system calls (socket send/recv, urandom for the WebSocket mask)"
    for frame in reversed(frames):
        for marker, layer in _LAYERS:
            if frame.startswith(marker) or f"/{marker}" in frame:
                return layer
    return "asyncio event loop and kernel calls"


def hot_spots(raw: Path, *, top: int = 15) -> dict[str, Any]:
    """Self, ours-inclusive and per-layer shares of the busy steady-state samples."""
    self_time: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = idle = startup = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_where(f) for f in stack.split(";")]
        if "_find_and_load" in stack or "run_forever" not in stack:
            startup += count
            continue
        if frames[-1].endswith("EpollSelector.select"):
            idle += count
            continue
        total += count
        self_time[frames[-1]] += count
        for name in {f for f in frames if f.startswith("funasr_realtime/")}:
            ours[name] += count
        layers[_layer(frames)] += count
    if not total:
        return {"samples": 0, "self": [], "ours": [], "layers": []}

    def rows(counter: Counter[str], n: int = top) -> list[tuple[str, float]]:
        return [(name, count / total) for name, count in counter.most_common(n)]

    return {
        "samples": total,
        "idle_samples": idle,
        "startup_samples": startup,
        "self": rows(self_time),
        "ours": rows(ours),
        "layers": rows(layers, 10),
    }
