"""The FunASR models the sherpa-onnx engines serve: where to get them and what a folder must hold.

Nothing here downloads. :data:`MODELS` describes each model the way its publisher does (the
sherpa-onnx ``asr-models`` release and its documentation pages, linked in ``source``); the user
runs :attr:`CatalogModel.fetch_command` once and passes the unpacked folder as ``--model-dir``.
:func:`check_model_dir` resolves the files an engine needs, int8 variants first.

Checksums: the publisher gives no SHA-256 for these archives or files (none in the sherpa-onnx
or sherpa repositories, their docs or their issues), so ``sha256`` is None and the fetch command
verifies what is published: the size of each model file as ``ls -lh`` lists it in the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...protocol import ConfigurationError

__all__ = ["MODELS", "CatalogModel", "ModelFile", "Variant", "check_model_dir", "find_model"]

_RELEASE = "https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models"
_DOCS = "https://k2-fsa.github.io/sherpa/onnx"


@dataclass(frozen=True, slots=True)
class Variant:
    """One accepted file name and its published size in MiB (``ls -lh``), None if unpublished."""

    name: str
    size_mib: int | None = None


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A file (or folder) the engine needs, as ``role``: its accepted names, preferred first."""

    role: str  # the sherpa-onnx keyword it is passed as: "encoder", "tokens", "tokenizer", ...
    variants: tuple[Variant, ...]
    directory: bool = False  # a folder (Fun-ASR-Nano's tokenizer), not a file


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """A model an engine serves, as published (see the module docstring for ``sha256``)."""

    engine: str  # the pinned engine name, e.g. "sherpa-paraformer"
    folder: str  # the folder the archive unpacks to
    languages: tuple[str, ...]
    size: str  # the unpacked files, as published (the archives' own sizes are not published)
    url: str  # the archive (tar.bz2)
    sha256: str | None  # of the archive; None: the publisher gives none
    files: tuple[ModelFile, ...]
    word_timestamps: bool
    licence: str
    source: str  # the page the facts above come from

    @property
    def fetch_command(self) -> str:
        """One POSIX shell line: download, unpack here and check the published file sizes.

        Prints ``size mismatch: FILE`` for each model file whose size (in whole MiB) is not the
        published one and exits 1; prints ``FOLDER: sizes ok`` when every published size matches.
        """
        sized = [(v.name, v.size_mib) for f in self.files for v in f.variants[:1] if v.size_mib is not None]
        checks = " ".join(f"{name}:{mib}" for name, mib in sized)
        verify = (
            f"cd {self.folder} && ok=1 && for f in {checks}; do n=$(( $(wc -c < ${{f%:*}}) >> 20 )); "
            f'[ $n -ge $(( ${{f#*:}} - 1 )) ] && [ $n -le ${{f#*:}} ] || {{ ok=0; echo "size mismatch: ${{f%:*}}"; }}; '
            f'done; cd .. && [ $ok = 1 ] && echo "{self.folder}: sizes ok"'
        )
        return f"curl -SL {self.url} | tar xjf - && {verify}"


def _files(*specs: tuple[str, tuple[tuple[str, int | None], ...]]) -> tuple[ModelFile, ...]:
    return tuple(ModelFile(role, tuple(Variant(n, s) for n, s in names)) for role, names in specs)


MODELS: tuple[CatalogModel, ...] = (
    CatalogModel(
        engine="sherpa-paraformer",
        folder="sherpa-onnx-streaming-paraformer-bilingual-zh-en",
        languages=("zh", "en"),
        size="int8 files 226 MiB (encoder 158, decoder 68); the archive also holds fp32 (825 MiB)",
        url=f"{_RELEASE}/sherpa-onnx-streaming-paraformer-bilingual-zh-en.tar.bz2",
        sha256=None,
        files=_files(
            ("encoder", (("encoder.int8.onnx", 158), ("encoder.onnx", 607))),
            ("decoder", (("decoder.int8.onnx", 68), ("decoder.onnx", 218))),
            ("tokens", (("tokens.txt", None),)),
        ),
        word_timestamps=False,  # upstream: "This model does not support timestamps"
        licence="FunASR Model License 1.1",
        source=f"{_DOCS}/pretrained_models/online-paraformer/paraformer-models.html",
    ),
    CatalogModel(
        engine="sherpa-sensevoice",
        folder="sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2024-07-17",
        languages=("zh", "en", "ja", "ko", "yue"),
        size="model.int8.onnx 228 MiB, tokens.txt 308 KiB",
        url=f"{_RELEASE}/sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2024-07-17.tar.bz2",
        sha256=None,
        files=_files(
            ("model", (("model.int8.onnx", 228), ("model.onnx", None))),
            ("tokens", (("tokens.txt", None),)),
        ),
        word_timestamps=True,  # sherpa-onnx reports token timestamps for SenseVoice
        licence="FunASR Model License 1.1",
        source=f"{_DOCS}/sense-voice/pretrained.html",
    ),
    CatalogModel(
        engine="sherpa-funasr-nano",
        folder="sherpa-onnx-funasr-nano-int8-2025-12-30",
        languages=("zh", "en", "ja"),
        size="model files 949 MiB (llm 573, encoder_adaptor 227, embedding 149) plus the Qwen3-0.6B tokenizer (16 MiB)",
        url=f"{_RELEASE}/sherpa-onnx-funasr-nano-int8-2025-12-30.tar.bz2",
        sha256=None,
        files=(
            *_files(
                ("encoder_adaptor", (("encoder_adaptor.int8.onnx", 227),)),
                ("llm", (("llm.int8.onnx", 573),)),
                ("embedding", (("embedding.int8.onnx", 149),)),
            ),
            ModelFile("tokenizer", (Variant("Qwen3-0.6B"),), directory=True),
        ),
        word_timestamps=False,
        licence="FunASR Model License 1.1",
        source=f"{_DOCS}/funasr-nano/pretrained.html",
    ),
)


def find_model(engine: str) -> CatalogModel:
    """The catalog entry of ``engine``; ``KeyError`` if it serves no catalogued model."""
    for model in MODELS:
        if model.engine == engine:
            return model
    raise KeyError(engine)


def check_model_dir(engine: str, directory: str | Path | None) -> dict[str, Path]:
    """The paths of the files ``engine`` needs in ``directory``, by role (int8 variants first).

    ``directory`` may also be the folder the archive was unpacked in (it then holds the
    model's own folder). Raises :class:`ConfigurationError`, in one line naming what is
    missing and the command that fetches the model, when the folder is not given, does not
    exist or lacks a file.
    """
    model = find_model(engine)
    fetch = f"fetch it with: {model.fetch_command}"
    if directory is None:
        raise ConfigurationError(f"--engine {engine} needs --model-dir (the folder {model.folder}); {fetch}")
    root = Path(directory)
    if not root.is_dir():
        raise ConfigurationError(f"model folder not found: {root}; {fetch}")
    if (root / model.folder).is_dir() and not _resolve(model.files[0], root):
        root = root / model.folder
    found: dict[str, Path] = {}
    for wanted in model.files:
        path = _resolve(wanted, root)
        if path is None:
            names = " or ".join(v.name for v in wanted.variants)
            raise ConfigurationError(f"{root} has no {names} (the {engine} model's {wanted.role}); {fetch}")
        found[wanted.role] = path
    return found


def _resolve(wanted: ModelFile, root: Path) -> Path | None:
    for variant in wanted.variants:
        path = root / variant.name
        if path.is_dir() if wanted.directory else path.is_file():
            return path
    return None
