"""Read an ONNX file's metadata without loading the model, to check it before sherpa-onnx does.

sherpa-onnx ends the whole process (``exit(-1)``) when a model lacks a metadata key it needs,
so a wrong file in a model folder would take the server down with it.  :func:`check_metadata`
reads the ``metadata_props`` of the file's top-level ``ModelProto`` (protobuf field 14) and
skips every other field by seeking, so it reads a few kilobytes even of a 500 MB model, and
raises :class:`~...protocol.ConfigurationError` in one line naming the file and the keys
missing.  Only the standard protobuf wire format is parsed; nothing is imported.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ...protocol import ConfigurationError

__all__ = ["check_metadata", "read_metadata"]

_METADATA_FIELD = 14  # ModelProto.metadata_props: repeated StringStringEntryProto {key = 1; value = 2}
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5  # protobuf wire types


class _Malformed(ValueError):
    pass


def read_metadata(path: Path) -> dict[str, str]:
    """The ``key -> value`` metadata of the ONNX model at ``path``; ``ValueError`` if it is not protobuf."""
    with path.open("rb") as file:
        return _metadata(file, file.seek(0, io.SEEK_END))


def check_metadata(path: Path, keys: Iterable[str], what: str) -> dict[str, str]:
    """``path``'s metadata, if it holds every key in ``keys``; else a one-line ConfigurationError.

    ``what`` names the model in the message, e.g. ``"a SenseVoice model"``.
    """
    try:
        metadata = read_metadata(path)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} is not a readable ONNX model ({exc})") from None
    missing = [key for key in keys if key not in metadata]
    if missing:
        raise ConfigurationError(f"{path} is not {what}: its metadata lacks {', '.join(missing)}")
    return metadata


def _metadata(file: BinaryIO, size: int) -> dict[str, str]:
    """The metadata entries among the top-level fields of the message in ``file[0:size]``."""
    metadata: dict[str, str] = {}
    file.seek(0)
    while file.tell() < size:
        tag = _varint(file)
        field, wire = tag >> 3, tag & 7
        if field == _METADATA_FIELD and wire == _LENGTH:
            entry = io.BytesIO(_read(file, _varint(file)))
            fields = _strings(entry)
            metadata[fields.get(1, "")] = fields.get(2, "")
        elif wire == _VARINT:
            _varint(file)
        elif wire in (_FIXED64, _FIXED32, _LENGTH):
            length = {_FIXED64: 8, _FIXED32: 4}.get(wire) or _varint(file)
            if file.tell() + length > size:
                raise _Malformed("truncated protobuf")
            file.seek(length, io.SEEK_CUR)
        else:
            raise _Malformed(f"not protobuf (wire type {wire})")
    return metadata


def _strings(entry: BinaryIO) -> dict[int, str]:
    """The length-delimited fields of a small message (a StringStringEntryProto), by number."""
    fields: dict[int, str] = {}
    end = entry.seek(0, io.SEEK_END)
    entry.seek(0)
    while entry.tell() < end:
        tag = _varint(entry)
        if tag & 7 != _LENGTH:
            raise _Malformed("bad metadata entry")
        fields[tag >> 3] = _read(entry, _varint(entry)).decode("utf-8", "replace")
    return fields


def _read(file: BinaryIO, length: int) -> bytes:
    data = file.read(length)
    if len(data) != length:
        raise _Malformed("truncated protobuf")
    return data


def _varint(file: BinaryIO) -> int:
    value = 0
    for shift in range(0, 64, 7):
        byte = _read(file, 1)[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    raise _Malformed("bad varint")
