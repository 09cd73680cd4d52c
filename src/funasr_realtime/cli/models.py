"""``funasr-realtime models``: the FunASR models the sherpa-onnx engines serve, and how to get them.

Nothing downloads: it prints, for each model of the catalog
(:mod:`funasr_realtime.server.engines.catalog`), its engine name, languages, size, download
URL, checksum, and the one shell command that fetches, unpacks and checks it, then the
``serve`` line that uses it. Plain text (bold names through rich on a terminal, when rich is
installed; never wrapped, so every command stays one copy-paste line), or ``--output json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..protocol import ConfigurationError

if TYPE_CHECKING:
    from ..server.engines.catalog import CatalogModel

__all__ = ["add_parser", "describe", "run"]

_NO_CHECKSUM = "not published by sherpa-onnx (the fetch command checks the published file sizes)"


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "models",
        help="list the self-hosted FunASR models and the command that fetches each",
        description="List the models of the sherpa-* engines: languages, size, URL, checksum and a "
        "copy-paste command to fetch and unpack each. Nothing is downloaded.",
    )
    parser.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or json")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    models = _catalog()
    if args.output == "json":
        print(json.dumps([_as_json(model) for model in models], ensure_ascii=False, indent=2))
        return 0
    blocks = [describe(model) for model in models]
    if sys.stdout.isatty() and _print_rich(blocks):
        return 0
    print("\n\n".join("\n".join(lines) for lines in blocks))
    return 0


def describe(model: CatalogModel) -> list[str]:
    """The lines ``models`` prints for ``model``: a heading, then ``field: value`` lines."""
    timestamps = "yes" if model.word_timestamps else "no"
    return [
        f"{model.engine} ({', '.join(model.languages)}; word timestamps: {timestamps})",
        f"  folder:  {model.folder}",
        f"  size:    {model.size}",
        f"  url:     {model.url}",
        f"  sha256:  {model.sha256 or _NO_CHECKSUM}",
        f"  licence: {model.licence}",
        f"  source:  {model.source}",
        f"  fetch:   {model.fetch_command}",
        f"  serve:   funasr-realtime serve --engine {model.engine} --model-dir {model.folder}",
    ]


def _catalog() -> tuple[CatalogModel, ...]:
    try:
        from ..server.engines.catalog import MODELS
    except ModuleNotFoundError as exc:  # the catalog lives with the server
        raise ConfigurationError(
            f'models needs the local server ({exc.name} is missing): pip install "funasr-realtime[server,sherpa]"'
        ) from None
    return MODELS


def _as_json(model: CatalogModel) -> dict[str, Any]:
    return {
        "engine": model.engine,
        "folder": model.folder,
        "languages": list(model.languages),
        "size": model.size,
        "url": model.url,
        "sha256": model.sha256,
        "files": {f.role: [v.name for v in f.variants] for f in model.files},
        "word_timestamps": model.word_timestamps,
        "licence": model.licence,
        "source": model.source,
        "fetch_command": model.fetch_command,
    }


def _print_rich(blocks: list[list[str]]) -> bool:
    """Print with bold headings through rich; False when rich is not installed."""
    try:
        from rich.console import Console
        from rich.markup import escape
    except ModuleNotFoundError:
        return False
    console = Console(soft_wrap=True, highlight=False)  # soft wrap: a command stays one line
    for index, (heading, *fields) in enumerate(blocks):
        if index:
            console.print()
        console.print(f"[bold]{escape(heading)}[/bold]")
        for line in fields:
            console.print(escape(line))
    return True
