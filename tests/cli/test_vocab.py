"""``funasr-realtime vocab ...`` and ``transcribe --hotwords`` against the local server's customization API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from funasr_realtime.cli.main import main
from funasr_realtime.client import Client
from funasr_realtime.protocol.vocabulary import HotWord, content_hash
from funasr_realtime.server import ServerConfig
from funasr_realtime.server.thread import ServerThread
from tests.conftest import GRAMMAR, load_speech
from tests.timing import scaled

pytestmark = pytest.mark.timeout(120)

KEY = "local-" + "vocab-cli-key"
S1 = load_speech("s1")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(grammar=GRAMMAR, api_key=SecretStr(KEY))) as running:
        yield running


@pytest.fixture
def words(tmp_path: Path) -> Path:
    path = tmp_path / "hotwords.txt"
    path.write_text("# product names\nFun-ASR\t5\n\n阿里云\t4\tzh\nDashScope\n", encoding="utf-8")
    return path


def vocab(capsys: pytest.CaptureFixture[str], server: ServerThread, *argv: str | Path) -> tuple[int, str, str]:
    code = main(["vocab", *map(str, argv), "--url", server.url, "--api-key", KEY])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_show_update_delete(
    server: ServerThread, words: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = vocab(capsys, server, "create", words, "--prefix", "cli")
    assert (code, err) == (0, "") and out.startswith("vocab-cli-")
    vocabulary_id = out.strip()

    code, out, _ = vocab(capsys, server, "list", "--prefix", "cli")
    [line] = out.splitlines()
    assert code == 0 and line.split("\t")[:2] == [vocabulary_id, "OK"]

    code, out, _ = vocab(capsys, server, "show", vocabulary_id)
    assert code == 0
    assert f"# vocabulary_id: {vocabulary_id}" in out and "# target_model: fun-asr-realtime" in out
    assert [line for line in out.splitlines() if not line.startswith("#")] == [
        "Fun-ASR\t5",
        "阿里云\t4\tzh",
        "DashScope\t4",
    ]

    # show's output is a hot-word file: edited and given back to update.
    edited = tmp_path / "edited.txt"
    edited.write_text(out.replace("DashScope\t4", "Paraformer\t2"), encoding="utf-8")
    assert vocab(capsys, server, "update", vocabulary_id, edited) == (0, "", "")
    code, out, _ = vocab(capsys, server, "show", vocabulary_id, "--output", "json")
    document = json.loads(out)
    assert document["vocabulary_id"] == vocabulary_id and document["status"] == "OK"
    assert document["vocabulary"][2] == {"text": "Paraformer", "weight": 2}

    assert vocab(capsys, server, "delete", vocabulary_id) == (0, "", "")
    code, out, err = vocab(capsys, server, "show", vocabulary_id)
    assert code == 1 and out == "" and "HTTP 404 NotFound" in err and len(err.splitlines()) == 1


def test_json_output(server: ServerThread, words: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = vocab(capsys, server, "create", words, "--prefix", "json", "--output", "json")
    vocabulary_id = json.loads(out)["vocabulary_id"]
    code, out, _ = vocab(capsys, server, "list", "--prefix", "json", "--output", "json")
    [entry] = json.loads(out)
    assert code == 0 and entry["vocabulary_id"] == vocabulary_id and set(entry) >= {"status", "gmt_create"}
    code, out, _ = vocab(capsys, server, "delete", vocabulary_id, "--output", "json")
    assert json.loads(out) == {"vocabulary_id": vocabulary_id, "deleted": True}


def test_create_without_a_prefix_reuses_the_same_content(
    server: ServerThread, words: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = vocab(capsys, server, "create", words)[1].strip()
    second = vocab(capsys, server, "create", words)[1].strip()
    assert first == second and first.split("-")[1] != "cli"
    assert vocab(capsys, server, "delete", first)[0] == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("ok\nbad\t9\n", ":2: weight"),
        ("ok\nbad\tfour\n", ":2: weight must be a whole number"),
        ("one two three four five six seven eight\n", ":1: text"),
        ("# only a comment\n\n", "no hot words"),
        ("a\t1\ten\textra\n", ":1: expected TEXT"),
    ],
)
def test_a_bad_file_is_refused_before_anything_is_sent(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, reason: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    before = len(server.server.vocabularies)
    code, out, err = vocab(capsys, server, "create", path, "--prefix", "bad")
    assert code == 1 and out == "" and reason in err and str(path) in err
    assert len(server.server.vocabularies) == before


def test_a_wrong_key_is_one_error_line(server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["vocab", "list", "--url", server.url, "--api-key", "wrong-" + "key"])
    _, err = capsys.readouterr()
    assert code == 1 and "HTTP 401 InvalidApiKey" in err and "wrong-" not in err


def test_an_unreachable_server_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.compat.conftest import unused_url

    code = main(["vocab", "delete", "vocab-x-1", "--url", unused_url()])
    _, err = capsys.readouterr()
    assert code == 1 and "cannot reach the customization route" in err


def test_the_command_runs_as_a_program(server: ServerThread, words: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
    env |= {"DASHSCOPE_API_KEY": KEY, "DASHSCOPE_WEBSOCKET_BASE_URL": server.url}
    argv = [sys.executable, "-m", "funasr_realtime", "vocab"]
    created = subprocess.run(
        [*argv, "create", str(words), "--prefix", "proc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    assert created.returncode == 0, created.stderr
    listed = subprocess.run(
        [*argv, "list", "--prefix", "proc"], env=env, capture_output=True, text=True, timeout=scaled(60), check=True
    )
    assert listed.stdout.split("\t")[0] == created.stdout.strip()
    subprocess.run([*argv, "delete", created.stdout.strip()], env=env, check=True, timeout=scaled(60))


# --------------------------------------------------------------------------- transcribe --hotwords


def test_transcribe_with_hotwords_ensures_one_vocabulary_and_streams_with_it(
    server: ServerThread, words: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[Any] = []
    stream = Client.stream

    def recording(self: Client, params: Any = None, **options: Any) -> Any:
        used.append(params.vocabulary_id)
        return stream(self, params, **options)

    monkeypatch.setattr(Client, "stream", recording)
    expected = [HotWord(text="Fun-ASR", weight=5), HotWord(text="阿里云", lang="zh"), HotWord(text="DashScope")]
    prefix = content_hash("fun-asr-realtime", expected)
    for _ in range(2):  # the second run reuses the first run's vocabulary
        code = main(["transcribe", str(S1.path), "--url", server.url, "--api-key", KEY, "--hotwords", str(words), "-q"])
        out, err = capsys.readouterr()
        assert (code, out, err) == (0, S1.text + "\n", "")
    stored = [v for v in server.server.vocabularies.page(prefix, 0, 100)]
    assert len(stored) == 1 and used == [stored[0].vocabulary_id] * 2
    assert stored[0].words == tuple(expected)


def test_transcribe_refuses_a_bad_hotwords_file_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.compat.conftest import unused_url

    path = tmp_path / "bad.txt"
    path.write_text("fine\nbad\t0\n", encoding="utf-8")
    code = main(["transcribe", str(S1.path), "--url", unused_url(), "--hotwords", str(path)])
    _, err = capsys.readouterr()
    assert code == 1 and f"{path}:2: weight" in err
