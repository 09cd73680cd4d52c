"""Gates on the shape of the package: which layer may import which, the adapters' use of the
public API only, and the exact public API.

* **Layers.** Imports point one way: ``protocol`` (imports nothing of ours) <- ``audio`` <-
  ``client`` <- ``compat`` and ``cli``; ``server`` may use ``protocol`` and ``audio`` but never
  the client; ``testing`` pairs the client with the server; the small utilities (``_hosts``,
  ``_redact``, ``_version``, ``text``) sit beside ``protocol``. No module imports the package
  root (``from .. import X``): the root only re-exports. Checked statically, lazy and
  ``TYPE_CHECKING`` imports included. tests/protocol/test_layering.py adds the runtime check
  that ``protocol`` loads no I/O module, and what ``audio`` may import from outside.
* **Adapters** (Pipecat, LiveKit) import ``funasr_realtime`` and use only names of its
  ``__all__``, never a submodule: what they need is public API, or it is missing from it.
* **The public API** is pinned: a name added to or removed from ``funasr_realtime.__all__``
  fails here until the pin and CHANGELOG.md say so.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import pytest

import funasr_realtime

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(funasr_realtime.__file__).parent
PACKAGE_NAME = "funasr_realtime"

# --------------------------------------------------------------------------- layers

UTILITIES = frozenset({"_hosts", "_redact", "_version", "text"})
#: What each part of the package may import from the other parts.
ALLOWED: dict[str, frozenset[str]] = {
    "protocol": frozenset(),
    **{name: frozenset({"protocol"}) for name in UTILITIES},
    "audio": frozenset({"protocol"}),
    "client": frozenset({"protocol", "audio"}) | UTILITIES,
    "server": frozenset({"protocol", "audio"}) | UTILITIES,
    "compat": frozenset({"protocol", "audio", "client"}) | UTILITIES,
    "cli": frozenset({"protocol", "audio", "client", "server"}) | UTILITIES,
    "testing": frozenset({"protocol", "audio", "client", "server"}) | UTILITIES,
    # The root re-exports the public API; __main__ runs the CLI.
    "__init__": frozenset({"protocol", "client", "_version", "text"}),
    "__main__": frozenset({"cli"}),
}
#: The package root itself, as an import target (``from .. import X`` for a non-module X).
ROOT_PACKAGE = "<package root>"


def module_name(path: Path) -> str:
    """``funasr_realtime.client.stream`` for ``.../funasr_realtime/client/stream.py``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(path: Path) -> str:
    """The part of the package a file belongs to: its subpackage, or its own name at the top."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def imported_parts(source: str, module: str, *, is_package: bool) -> set[str]:
    """The parts of the package (keys of :data:`ALLOWED`, or :data:`ROOT_PACKAGE`) ``source`` imports."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [(base, [alias.name for alias in node.names])]
        else:
            continue
        for target, names in targets:
            found |= _parts(target, names)
    return found


def _parts(target: str, names: list[str]) -> set[str]:
    pieces = target.split(".")
    if pieces[0] != PACKAGE_NAME:
        return set()
    if len(pieces) > 1:
        return {pieces[1]}
    if not names:  # "import funasr_realtime"
        return {ROOT_PACKAGE}
    return {name if name in ALLOWED else ROOT_PACKAGE for name in names}


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@functools.cache
def imports_by_layer() -> dict[str, dict[str, set[str]]]:
    """For each layer, each of its files (relative name) and the other parts it imports.

    Parsed once per run (the tests only read it).
    """
    result: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for path in package_files():
        layer = layer_of(path)
        parts = imported_parts(
            path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py"
        )
        result[layer][str(path.relative_to(PACKAGE))] = parts - {layer}
    return result


def test_every_part_of_the_package_has_a_rule() -> None:
    unknown = set(imports_by_layer()) - set(ALLOWED)
    assert not unknown, f"new parts of the package {sorted(unknown)}: add their rule to ALLOWED in tests/test_gates.py"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_down_the_layers(layer: str) -> None:
    files = imports_by_layer().get(layer, {})
    wrong = {name: sorted(parts - ALLOWED[layer]) for name, parts in files.items() if parts - ALLOWED[layer]}
    assert wrong == {}, f"{layer} may import only {sorted(ALLOWED[layer])}"


def test_the_server_never_imports_the_client() -> None:
    # The rule the layering exists for: the local server is another peer, not a client.
    assert "client" not in ALLOWED["server"]
    assert not any("client" in parts for parts in imports_by_layer()["server"].values())


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("from ..protocol import X", "funasr_realtime.client.stream", False, {"protocol"}),
        ("from .. import __version__", "funasr_realtime.cli.main", False, {ROOT_PACKAGE}),
        ("from .._version import __version__", "funasr_realtime.cli.main", False, {"_version"}),
        ("from .. import protocol", "funasr_realtime.cli.main", False, {"protocol"}),
        ("from .wav import W", "funasr_realtime.audio", True, {"audio"}),
        ("from ..client import Client", "funasr_realtime.audio", True, {"client"}),
        ("from .stream import S", "funasr_realtime.client.client", False, {"client"}),
        ("import funasr_realtime.server.thread as t", "funasr_realtime.testing", True, {"server"}),
        ("def f():\n    from ..server import LocalServer", "funasr_realtime.cli.serve", False, {"server"}),
        ("import funasr_realtime", "funasr_realtime.cli.serve", False, {ROOT_PACKAGE}),
        ("from .client import Client", "funasr_realtime", True, {"client"}),
        ("import json\nfrom typing import Any", "funasr_realtime.protocol.client", False, set()),
    ],
)
def test_the_check_reads_imports_as_python_does(source: str, module: str, is_package: bool, expected: set[str]) -> None:
    assert imported_parts(source, module, is_package=is_package) == expected


# --------------------------------------------------------------------------- adapters

ADAPTERS = {
    "pipecat": ROOT / "adapters" / "pipecat" / "src" / "pipecat_funasr_realtime",
    "livekit": ROOT / "adapters" / "livekit" / "livekit" / "plugins" / "funasr_realtime",
}


def private_uses(source: str, public: frozenset[str]) -> list[str]:
    """Uses of ``funasr_realtime`` beyond its ``__all__``: submodule imports, other names, other attributes."""
    found = []
    aliases = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE_NAME:
                    aliases.add(alias.asname or alias.name)
                elif alias.name.startswith(PACKAGE_NAME + "."):
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == PACKAGE_NAME:
            if node.module != PACKAGE_NAME:
                found.append(f"from {node.module} import ...")
            else:
                found += [f"from {PACKAGE_NAME} import {a.name}" for a in node.names if a.name not in public]
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        if node.value.id in aliases and node.attr not in public:
            found.append(f"{node.value.id}.{node.attr}")
    return found


def adapter_files() -> list[Path]:
    return sorted(path for directory in ADAPTERS.values() for path in directory.rglob("*.py"))


def test_the_adapters_are_where_the_check_looks() -> None:
    assert all(directory.is_dir() for directory in ADAPTERS.values())
    assert len(adapter_files()) >= 4


@pytest.mark.parametrize("path", adapter_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_adapters_use_only_the_public_api(path: Path) -> None:
    public = frozenset(funasr_realtime.__all__)
    assert private_uses(path.read_text(encoding="utf-8"), public) == [], (
        "adapters use only names of funasr_realtime.__all__: export what they need, or do without"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import funasr_realtime as fr\nfr.Client()", []),
        ("from funasr_realtime import Client, Region", []),
        ("from funasr_realtime.protocol import Timeline", ["from funasr_realtime.protocol import ..."]),
        ("import funasr_realtime.client", ["import funasr_realtime.client"]),
        ("import funasr_realtime as fr\nfr.protocol.Timeline", ["fr.protocol"]),
        ("from funasr_realtime import _redact", ["from funasr_realtime import _redact"]),
        ("from livekit.plugins.funasr_realtime import STT\nfrom .stt import X", []),
    ],
)
def test_the_adapter_check_sees_private_uses(source: str, expected: list[str]) -> None:
    assert private_uses(source, frozenset({"Client", "Region"})) == expected


# --------------------------------------------------------------------------- the public API

#: funasr_realtime.__all__, sorted. Changing the public API means changing this pin, and
#: saying so in CHANGELOG.md.
PUBLIC_API = [
    "ApiError",
    "AudioDropped",
    "AudioError",
    "Client",
    "ClientConfig",
    "ConfigurationError",
    "ConnectError",
    "ConnectionClosed",
    "ContextBounds",
    "ContextMessage",
    "Emotion",
    "ErrorKind",
    "FinalizeRequest",
    "FunAsrError",
    "HandshakeRejected",
    "HotWord",
    "KeyProvider",
    "LocalProtocolError",
    "ProtocolError",
    "RecognitionParams",
    "RecognitionStream",
    "Reconnected",
    "Region",
    "RemoteProtocolError",
    "Resilience",
    "ResumePoint",
    "Sentence",
    "SentenceEvent",
    "StreamEvent",
    "Support",
    "TaskCompleted",
    "TaskFailedError",
    "TaskMetrics",
    "TemporaryKey",
    "Timeouts",
    "TransportError",
    "TransportFactory",
    "TransportTimeout",
    "Usage",
    "Vocabularies",
    "Vocabulary",
    "VocabularyEntry",
    "Word",
    "__version__",
    "accepts_sample_rate",
    "bound_context",
    "check_compatibility",
    "choose_sample_rate",
    "classify",
    "default_sample_rate",
    "detect_language",
    "find_model",
    "is_retryable",
    "is_unspaced",
    "join_texts",
    "mint_temporary_key",
    "model_offers",
    "word_spans",
]


def test_the_public_api_is_pinned() -> None:
    exported = sorted(funasr_realtime.__all__)
    added, removed = sorted(set(exported) - set(PUBLIC_API)), sorted(set(PUBLIC_API) - set(exported))
    assert exported == PUBLIC_API, (
        f"funasr_realtime.__all__ changed (added {added}, removed {removed}): update PUBLIC_API in "
        "tests/test_gates.py and say so in CHANGELOG.md"
    )


def test_every_public_name_exists_once() -> None:
    assert len(funasr_realtime.__all__) == len(set(funasr_realtime.__all__))
    missing = [name for name in funasr_realtime.__all__ if not hasattr(funasr_realtime, name)]
    assert missing == []


def test_the_pin_is_sorted() -> None:
    assert sorted(PUBLIC_API) == PUBLIC_API
