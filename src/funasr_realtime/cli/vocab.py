"""``funasr-realtime vocab create|list|show|update|delete``: the account's hot-word vocabularies.

Hot words are read from a file (``-`` for stdin), one a line: the text, then optionally a
tab and the weight (1 to 5, default 4), then optionally a tab and a language code; blank
lines and lines starting with ``#`` are skipped. ``show`` prints a vocabulary's words in the
same format, so its output can be edited and given back to ``update``. Results go to
stdout as plain text or, with ``--output json``, as the service's JSON. ``transcribe
--hotwords FILE`` reads the same format (:func:`read_hotwords`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from ..client import Vocabularies, Vocabulary, VocabularyEntry
from ..protocol import ConfigurationError
from ..protocol.vocabulary import HotWord, hot_words
from ._common import add_common_options, make_client, quiet_library, verbosity

__all__ = ["add_parser", "read_hotwords", "run"]


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "vocab",
        help="manage hot-word vocabularies",
        description="Create, list, show, update and delete hot-word vocabularies (the customization API).",
        epilog="hot-word files: one word a line, TEXT[<tab>WEIGHT[<tab>LANG]]; weight 1-5 (default 4); # comments",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _action(actions, "create", "create a vocabulary from a hot-word file; prints its id")
    create.add_argument("file", type=Path, metavar="FILE", help="hot-word file ('-' for stdin)")
    create.add_argument("--model", default="fun-asr-realtime", help="the model it is for (default fun-asr-realtime)")
    create.add_argument(
        "--prefix",
        help="1-9 digits or lowercase letters; without it the content's hash is the prefix and an "
        "identical vocabulary is reused instead of created again",
    )
    listing = _action(actions, "list", "list vocabularies (all pages, oldest first)")
    listing.add_argument("--prefix", help="only those created with this prefix")
    show = _action(actions, "show", "show a vocabulary's model, status, times and words")
    show.add_argument("vocabulary_id", metavar="ID")
    update = _action(actions, "update", "replace a vocabulary's words with a hot-word file's")
    update.add_argument("vocabulary_id", metavar="ID")
    update.add_argument("file", type=Path, metavar="FILE", help="hot-word file ('-' for stdin)")
    delete = _action(actions, "delete", "delete a vocabulary")
    delete.add_argument("vocabulary_id", metavar="ID")


def _action(actions: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    parser.add_argument("--url", help="WebSocket endpoint; the HTTP API is on its host (default: as transcribe)")
    parser.add_argument("--http-url", help="HTTP API base instead, e.g. https://HOST/api/v1")
    parser.add_argument("--api-key", help="API key (default: $DASHSCOPE_API_KEY; a local server may need none)")
    parser.add_argument(
        "--allow-insecure", action="store_true", help="allow plain ws:// or http:// to a host that is not loopback"
    )
    parser.add_argument("--output", choices=("text", "json"), default="text", help="output format (default text)")
    add_common_options(parser)
    parser.set_defaults(run=run)
    return parser


def read_hotwords(path: Path) -> tuple[HotWord, ...]:
    """The hot words of a file in the format above. Raises ConfigurationError naming the line, or OSError."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    items: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\r").split("\t")
        try:
            items.append(_item(fields))
            hot_words(items[-1:])
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}:{number}: {str(exc).removeprefix('hot word 0: ')}") from None
    if not items:
        raise ConfigurationError(f"{path}: no hot words (one a line: TEXT, optionally <tab>WEIGHT<tab>LANG)")
    return hot_words(items)


def _item(fields: list[str]) -> dict[str, Any]:
    if len(fields) > 3:
        raise ConfigurationError("expected TEXT, TEXT<tab>WEIGHT or TEXT<tab>WEIGHT<tab>LANG")
    item: dict[str, Any] = {"text": fields[0]}
    if len(fields) > 1 and fields[1].strip():
        weight = fields[1].strip()
        if not weight.lstrip("-").isdigit():
            raise ConfigurationError(f"weight must be a whole number from 1 to 5, not {weight!r}")
        item["weight"] = int(weight)
    if len(fields) > 2 and fields[2].strip():
        item["lang"] = fields[2].strip()
    return item


def run(args: argparse.Namespace) -> int:
    with quiet_library(verbosity(args)):
        words = read_hotwords(args.file) if getattr(args, "file", None) is not None else None
        vocabularies = _vocabularies(args)
        lines = asyncio.run(_ACTIONS[args.action](vocabularies, args, words))
    for line in lines:
        print(line)
    return 0


def _vocabularies(args: argparse.Namespace) -> Vocabularies:
    client = make_client(args)
    config = client.config if args.http_url is None else dataclasses.replace(client.config, http_url=args.http_url)
    return Vocabularies(config, allow_insecure=args.allow_insecure)


async def _create(vocabularies: Vocabularies, args: argparse.Namespace, words: Any) -> list[str]:
    if args.prefix is None:
        vocabulary_id = await vocabularies.ensure(args.model, words)
    else:
        vocabulary_id = await vocabularies.create(args.model, words, prefix=args.prefix)
    return [json.dumps({"vocabulary_id": vocabulary_id}) if args.output == "json" else vocabulary_id]


async def _list(vocabularies: Vocabularies, args: argparse.Namespace, _words: Any) -> list[str]:
    entries = [entry async for entry in vocabularies.entries(prefix=args.prefix)]
    if args.output == "json":
        return [json.dumps([dict(entry.raw) for entry in entries], ensure_ascii=False)]
    return [_entry_line(entry) for entry in entries]


async def _show(vocabularies: Vocabularies, args: argparse.Namespace, _words: Any) -> list[str]:
    vocabulary = await vocabularies.get(args.vocabulary_id)
    if args.output == "json":
        return [json.dumps({"vocabulary_id": vocabulary.vocabulary_id, **vocabulary.raw}, ensure_ascii=False)]
    return _details(vocabulary)


async def _update(vocabularies: Vocabularies, args: argparse.Namespace, words: Any) -> list[str]:
    await vocabularies.update(args.vocabulary_id, words)
    return [json.dumps({"vocabulary_id": args.vocabulary_id, "updated": True})] if args.output == "json" else []


async def _delete(vocabularies: Vocabularies, args: argparse.Namespace, _words: Any) -> list[str]:
    await vocabularies.delete(args.vocabulary_id)
    return [json.dumps({"vocabulary_id": args.vocabulary_id, "deleted": True})] if args.output == "json" else []


def _entry_line(entry: VocabularyEntry) -> str:
    return "\t".join((entry.vocabulary_id, entry.status, entry.gmt_create, entry.gmt_modified))


def _details(vocabulary: Vocabulary) -> list[str]:
    header = [
        f"# vocabulary_id: {vocabulary.vocabulary_id}",
        f"# target_model: {vocabulary.target_model}",
        f"# status: {vocabulary.status}",
        f"# gmt_create: {vocabulary.gmt_create}",
        f"# gmt_modified: {vocabulary.gmt_modified}",
    ]
    return header + ["\t".join(_fields(word)) for word in vocabulary.words]


def _fields(word: HotWord) -> list[str]:
    return [word.text, str(word.weight), *([word.lang] if word.lang else [])]


_ACTIONS = {"create": _create, "list": _list, "show": _show, "update": _update, "delete": _delete}
