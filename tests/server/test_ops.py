"""``GET /health`` and ``GET /metrics`` on the server's port, for load balancers and Prometheus.

Neither needs the API key; /metrics is Prometheus text that prometheus-client's own parser
reads, and its series move with what the server does: sessions, tasks, audio, errors by code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from tests.conftest import chunks, load_speech
from tests.server.wire import finish_task, new_task_id, recv_event, run_task, start, stream, transcribe
from tests.timing import scaled
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from funasr_realtime.server import ServerConfig
from funasr_realtime.server.metrics import ConnectionMeter, ServerMetrics, exposition
from funasr_realtime.server.ops import WorkerSlot, health
from funasr_realtime.server.thread import ServerThread

pytestmark = pytest.mark.timeout(60)

KEY = "local-" + "ops-key"


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """A fresh server per test: its counters start at zero."""
    with ServerThread(ServerConfig(engine="synthetic", api_key=SecretStr(KEY))) as running:
        yield running


def base_url(server: ServerThread) -> str:
    return server.http_url.removesuffix("/api/v1")


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


async def get(server: ServerThread, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=scaled(10)) as client:
        return await client.get(base_url(server) + path)


async def scrape(server: ServerThread) -> dict[str, float]:
    """Every sample of /metrics by name and labels: ``{'x_total': 1.0, 'y_total{code="A"}': 2.0}``."""
    response = await get(server, "/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


async def test_health_needs_no_key_and_says_who_answers(server: ServerThread) -> None:
    response = await get(server, "/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "ok" and body["engine"] == "synthetic"
    assert body["pid"] == os.getpid() and body["worker"] is None and body["workers"] == 1
    assert body["uptime_s"] >= 0 and body["sessions"] == 0


async def test_metrics_need_no_key_and_are_prometheus_text(server: ServerThread) -> None:
    response = await get(server, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "funasr_realtime_sessions",
        "funasr_realtime_sessions_accepted",
        "funasr_realtime_tasks_started",
        "funasr_realtime_tasks_finished",
        "funasr_realtime_tasks_failed",
        "funasr_realtime_tasks_running",
        "funasr_realtime_errors",
        "funasr_realtime_handshakes_refused",
        "funasr_realtime_audio_received_bytes",
        "funasr_realtime_audio_received_seconds",
        "funasr_realtime_audio_recognized_seconds",
        "funasr_realtime_backlog_bytes",
        "funasr_realtime_backlog_seconds",
    } <= names


async def test_only_the_operator_routes_are_open(server: ServerThread) -> None:
    assert (await get(server, "/other")).status_code == 404
    with pytest.raises(InvalidStatus) as refused:  # the WebSocket still needs the key
        async with connect(server.url):
            pass
    assert refused.value.response.status_code == 401
    assert (await scrape(server))['funasr_realtime_handshakes_refused_total{status="401"}'] == 1


async def test_a_stream_moves_sessions_tasks_and_audio(server: ServerThread) -> None:
    speech = load_speech("s1")
    async with connect(server.url, additional_headers=auth()) as ws:
        task_id = new_task_id()
        await start(ws, task_id)
        await stream(ws, chunks(speech.pcm[:32000]))  # the first second
        during = await scrape(server)
        await stream(ws, chunks(speech.pcm[32000:]))
        await ws.send(finish_task(task_id))
        while (await recv_event(ws, scaled(10)))["header"]["event"] != "task-finished":
            pass
        after_task = await scrape(server)
    assert during["funasr_realtime_sessions"] == 1 and during["funasr_realtime_tasks_running"] == 1
    assert during["funasr_realtime_tasks_started_total"] == 1 and during["funasr_realtime_tasks_finished_total"] == 0
    seconds = len(speech.pcm) / 32000
    assert after_task["funasr_realtime_tasks_finished_total"] == 1 and after_task["funasr_realtime_tasks_running"] == 0
    assert after_task["funasr_realtime_audio_received_bytes_total"] == len(speech.pcm)
    assert after_task["funasr_realtime_audio_received_seconds_total"] == pytest.approx(seconds)
    assert after_task["funasr_realtime_audio_recognized_seconds_total"] == pytest.approx(seconds, abs=0.002)
    assert after_task["funasr_realtime_backlog_bytes"] == 0 and after_task["funasr_realtime_backlog_seconds"] == 0
    assert after_task["funasr_realtime_tasks_failed_total"] == 0
    closed = await scrape(server)
    assert closed["funasr_realtime_sessions"] == 0 and closed["funasr_realtime_sessions_accepted_total"] == 1


async def test_errors_are_counted_by_code(server: ServerThread) -> None:
    async with connect(server.url, additional_headers=auth()) as ws:  # refused before it starts
        await ws.send(run_task(new_task_id(), "no-such-model"))
        assert (await recv_event(ws))["header"]["error_code"] == "ModelNotFound"
    async with connect(server.url, additional_headers=auth()) as ws:  # fails once started
        _, events = await transcribe(ws, [b"RIFF" + b"\0" * 60], format="wav")
        assert events[-1]["header"]["error_code"] == "NO_VALID_AUDIO_ERROR"
    samples = await scrape(server)
    assert samples['funasr_realtime_errors_total{code="ModelNotFound"}'] == 1
    assert samples['funasr_realtime_errors_total{code="NO_VALID_AUDIO_ERROR"}'] == 1
    assert samples["funasr_realtime_tasks_started_total"] == 1  # the refused one never started
    assert samples["funasr_realtime_tasks_failed_total"] == 1


async def test_health_is_503_when_full() -> None:
    with ServerThread(ServerConfig(engine="synthetic", max_connections=1)) as full:
        async with connect(full.url):
            response = await get(full, "/health")
            assert response.status_code == 503 and response.json()["status"] == "full"
        for _ in range(50):  # the server sees the close a moment later
            response = await get(full, "/health")
            if response.status_code == 200:
                break
        assert response.json() == {**response.json(), "status": "ok", "sessions": 0}


@dataclass
class _State:
    """A server's live state, set by hand."""

    engine_name: str = "pocketsphinx"
    worker: WorkerSlot | None = None
    started_at: float = 0.0
    draining: bool = False
    full: bool = False
    active_connections: int = 3
    running_tasks: int = 2
    backlog_bytes: int = 64000
    backlog_seconds: float = 2.0


def test_health_is_503_while_draining_and_names_the_worker() -> None:
    status, body = health(_State(draining=True, full=True, worker=WorkerSlot(1, 4)))
    assert status == 503 and body["status"] == "draining"
    assert body["worker"] == 1 and body["workers"] == 4 and body["sessions"] == 3


def test_the_gauges_read_the_live_state() -> None:
    metrics = ServerMetrics()
    metrics.refresh()  # nothing watched yet: nothing to read
    metrics.watch(_State())
    text = exposition(metrics).decode()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["funasr_realtime_sessions"] == 3 and samples["funasr_realtime_tasks_running"] == 2
    assert samples["funasr_realtime_backlog_bytes"] == 64000 and samples["funasr_realtime_backlog_seconds"] == 2.0


def test_a_connection_meter_converts_bytes_to_seconds_by_format() -> None:
    metrics = ServerMetrics()
    meter = ConnectionMeter(metrics)
    assert meter.backlog_seconds(32000) == 1.0  # before run-task: 16 kHz PCM
    meter.started(compressed=False, sample_rate=8000)
    meter.received(16000)
    assert meter.backlog_seconds(16000) == 1.0
    meter.started(compressed=True, sample_rate=16000)
    meter.received(500)  # compressed: bytes now, seconds once decoded
    assert meter.backlog_seconds(500) == 0.0
    meter.progressed(1500)
    assert metrics.received_seconds._value.get() == pytest.approx(2.5)
    assert metrics.recognized_seconds._value.get() == pytest.approx(1.5)
    silent = ConnectionMeter(None)  # a handler without metrics counts nothing, and does not fail
    silent.received(10)
    silent.started(compressed=False, sample_rate=16000)
    silent.progressed(100)
    silent.finished()
    silent.failed("X", started=True)


def test_multiprocess_mode_reads_the_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set (serve --workers), a scrape sums the folder's files,
    not this process's own values (the worker tests see real sums)."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert exposition(ServerMetrics()) == b""
