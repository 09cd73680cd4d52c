"""The protocol package is sans-I/O: no asyncio, sockets, threads, clock or environment.

Two checks:

* at runtime, in a fresh interpreter, importing and exercising ``funasr_realtime.protocol``
  loads none of the I/O modules. The parent package ``funasr_realtime/__init__.py``
  re-exports the asyncio client, so the subprocess registers a bare parent package first
  and measures the protocol package on its own. pydantic itself pulls in ``threading`` and
  (through ``importlib.metadata`` → ``email.utils``) ``socket``; those are measured in a
  pydantic-only baseline and only modules *beyond* it count against the protocol;
* statically, no file in the package imports an I/O module or reads the environment.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import funasr_realtime.protocol

PROTOCOL_DIR = Path(funasr_realtime.protocol.__file__).parent

# Never acceptable, whatever the dependencies do.
NEVER = ("websockets", "asyncio", "_asyncio", "ssl", "_ssl", "concurrent.futures", "aiohttp", "anyio", "trio")
# Not loaded by the protocol itself, but possibly by the Python/pydantic baseline.
NOT_ADDED = ("socket", "_socket", "select", "selectors", "threading", "_thread", "subprocess", "time")

ISOLATED_IMPORT = r"""
import importlib.util, json, sys, types

spec = importlib.util.find_spec("funasr_realtime")
parent = types.ModuleType("funasr_realtime")
parent.__path__ = list(spec.submodule_search_locations)
parent.__spec__ = spec
sys.modules["funasr_realtime"] = parent

import funasr_realtime.protocol as p

# Exercise the code paths too, in case something is imported lazily.
c = p.ClientProtocol()
c.run_task(p.RecognitionParams(language_hints=["en"]))
c.receive_text(p.TaskStarted(c.task_id).encode())
c.send_audio(b"\x00" * 40000)
c.receive_text(p.ResultGenerated(c.task_id, p.Sentence(text="x", end_time=1)).encode())
s = p.ServerProtocol()
s.receive_text(p.RunTask(task_id="t", model="m", parameters={}).encode())
s.start_task()
p.check_compatibility(p.RecognitionParams(), p.Region.INTL)
p.region_of_url("wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference")
next(p.backoff())
p.is_retryable(p.TaskFailedError("Throttling", "x"))
try:
    p.decode_server_event("{")
except p.RemoteProtocolError:
    pass
assert "funasr_realtime.client" not in sys.modules
print(json.dumps(sorted(sys.modules)))
"""

PYDANTIC_BASELINE = r"""
import json, sys
import pydantic

class M(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="allow")
    x: int = 0

M.model_validate_json('{"x": 1}')
print(json.dumps(sorted(sys.modules)))
"""

BARE = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def _modules(code: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


@pytest.fixture(scope="module")
def loaded() -> dict[str, set[str]]:
    return {
        "bare": _modules(BARE),
        "pydantic": _modules(PYDANTIC_BASELINE),
        "protocol": _modules(ISOLATED_IMPORT),
    }


def _matching(modules: set[str], names: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == n or m.startswith(n + ".") for n in names)}


def test_the_isolated_import_really_loads_the_protocol(loaded: dict[str, set[str]]) -> None:
    assert "funasr_realtime.protocol" in loaded["protocol"]
    assert "funasr_realtime.protocol.client" in loaded["protocol"]
    assert "pydantic" in loaded["protocol"]


def test_protocol_never_loads_async_or_network_libraries(loaded: dict[str, set[str]]) -> None:
    assert _matching(loaded["protocol"], NEVER) == set()


def test_protocol_adds_no_io_module_beyond_its_dependencies(loaded: dict[str, set[str]]) -> None:
    baseline = loaded["bare"] | loaded["pydantic"]
    added = loaded["protocol"] - baseline
    assert _matching(added, NOT_ADDED) == set()
    assert _matching(added, NEVER) == set()


def test_baseline_is_what_the_docstring_says(loaded: dict[str, set[str]]) -> None:
    # If pydantic stops importing these, the relative check above becomes an absolute one.
    assert "asyncio" not in loaded["pydantic"]
    assert "websockets" not in loaded["pydantic"]


# --------------------------------------------------------------------------- static check

FORBIDDEN_IMPORTS = frozenset(
    {"asyncio", "socket", "threading", "time", "os", "websockets", "ssl", "selectors", "subprocess", "concurrent"}
)


def violations(source: str) -> list[str]:
    """Forbidden imports and environment reads in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_IMPORTS]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] in FORBIDDEN_IMPORTS:
                found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb", "putenv"}:
            found.append(f"...{node.attr}")
        elif isinstance(node, ast.Name) and node.id in {"environ", "getenv"}:
            found.append(node.id)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in {"__import__", "import_module"}:
                found.append(f"{name}(...)")
    return found


def protocol_files() -> list[Path]:
    return sorted(PROTOCOL_DIR.glob("*.py"))


def test_the_static_check_sees_every_module() -> None:
    names = {p.stem for p in protocol_files()}
    assert {"__init__", "messages", "params", "models", "states", "client", "server", "errors", "retry"} <= names


@pytest.mark.parametrize("path", protocol_files(), ids=lambda p: p.name)
def test_no_io_imports_or_environment(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import os.path",
        "from time import monotonic",
        "from concurrent.futures import Future",
        "import websockets.asyncio.client as w",
        "import threading as t",
        "x = os.environ['DASHSCOPE_API_KEY']",
        "x = os.getenv('X')",
        "from os import environ",
        "m = __import__('socket')",
        "m = importlib.import_module('socket')",
    ],
)
def test_the_static_check_catches_violations(source: str) -> None:
    assert violations(source) != []


@pytest.mark.parametrize("source", ["import json", "from .errors import X", "import random", "from typing import Any"])
def test_the_static_check_allows_pure_modules(source: str) -> None:
    assert violations(source) == []


# --------------------------------------------------------------------------- the audio layer

AUDIO_DIR = PROTOCOL_DIR.parent / "audio"
#: What funasr_realtime.audio may import besides the standard library: the protocol and PyAV.
AUDIO_ALLOWED_PACKAGES = frozenset({"av"})
AUDIO_FORBIDDEN = frozenset({"numpy", "asyncio", "websockets", "socket", "threading", "soxr", "pocketsphinx"})


def audio_layer_violations(source: str) -> list[str]:
    """Imports in an audio module beyond the protocol, its own package, the stdlib and PyAV."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            if (node.level == 2 and (node.module or "").split(".")[0] != "protocol") or node.level > 2:
                found.append(f"from {'.' * node.level}{node.module} import ...")
        else:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in AUDIO_FORBIDDEN or (top not in sys.stdlib_module_names and top not in AUDIO_ALLOWED_PACKAGES):
                    found.append(f"import {name}")
    return found


@pytest.mark.parametrize("path", sorted(AUDIO_DIR.glob("*.py")), ids=lambda p: p.name)
def test_the_audio_layer_imports_only_the_protocol_and_pyav(path: Path) -> None:
    assert audio_layer_violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source", ["from ..client import Client", "from ..server.task import X", "import numpy", "from ...x import y"]
)
def test_the_audio_layer_check_catches_violations(source: str) -> None:
    assert audio_layer_violations(source) != []


@pytest.mark.parametrize(
    "source", ["from ..protocol import AudioError", "from .wav import W", "import av", "import struct"]
)
def test_the_audio_layer_check_allows_its_dependencies(source: str) -> None:
    assert audio_layer_violations(source) == []
