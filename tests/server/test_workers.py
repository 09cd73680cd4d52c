"""``serve --workers N``: N processes on one port, supervised, with their metrics summed.

The pool runs in the test process (its supervision is what is tested), its workers are real
``python -m funasr_realtime.server._worker`` processes with the synthetic engine. Each
worker's /health names its pid, so the tests see which worker a request reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import pickle
import signal
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import chunks, load_speech
from tests.server.wire import finals, transcribe
from tests.timing import scaled
from websockets.asyncio.client import connect

from funasr_realtime.cli.main import main
from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.server import ServerConfig
from funasr_realtime.server._worker import CLOSED, WorkerOrder, encode_order, read_order, run_worker, serve_worker
from funasr_realtime.server.ops import WorkerSlot
from funasr_realtime.server.workers import WorkerPool

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def pool() -> AsyncIterator[WorkerPool]:
    async with WorkerPool(ServerConfig(engine="synthetic"), 2, start_timeout=scaled(30)) as running:
        yield running


def http_base(ws_url: str) -> str:
    return "http://" + ws_url.split("//", 1)[1].split("/", 1)[0]


async def health(url: str) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=scaled(10)) as client:
        response = await client.get(http_base(url) + "/health")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def sessions_by_worker(url: str, expected: set[int]) -> dict[int, int]:
    """Each worker's open sessions, asking /health until every pid of ``expected`` answered."""
    seen: dict[int, int] = {}
    async with asyncio.timeout(scaled(20)):
        while set(seen) != expected:
            body = await health(url)
            seen[int(body["pid"])] = int(body["sessions"])  # type: ignore[call-overload]
    return seen


async def scrape(url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=scaled(10)) as client:
        text = (await client.get(http_base(url) + "/metrics")).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


async def one_task(url: str) -> list[str]:
    async with connect(url) as ws:
        _, events = await transcribe(ws, chunks(load_speech("s1").pcm))
    assert events[-1]["header"]["event"] == "task-finished"
    return [s["text"] for s in finals(events)]


async def test_sessions_spread_evenly_and_metrics_sum_the_workers(pool: WorkerPool) -> None:
    pids = set(pool.pids.values())
    assert len(pids) == 2 and os.getpid() not in pids
    assert pool.url.startswith("ws://127.0.0.1:") and pool.url.endswith("/api-ws/v1/inference")
    held = [await connect(pool.url) for _ in range(4)]  # a burst: each goes to the least busy worker
    try:
        async with asyncio.timeout(scaled(10)):
            while (await sessions_by_worker(pool.url, pids)) != dict.fromkeys(pids, 2):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        async with asyncio.timeout(scaled(10)):  # the last /health's close is on its way
            while pool.open_connections != {0: 2, 1: 2}:  # noqa: ASYNC110 (the pool's own counts)
                await asyncio.sleep(0.02)
        async with asyncio.timeout(scaled(10)):  # the other worker's gauge is at most a second old
            while (await scrape(pool.url))["funasr_realtime_sessions"] != 4:  # noqa: ASYNC110 (other processes)
                await asyncio.sleep(0.2)
        assert (await scrape(pool.url))["funasr_realtime_sessions_accepted_total"] == 4
    finally:
        for ws in held:
            await ws.close()
    assert await one_task(pool.url)
    async with asyncio.timeout(scaled(10)):  # each worker says when a connection closes
        while pool.open_connections != {0: 0, 1: 0}:  # noqa: ASYNC110 (the pool's own counts)
            await asyncio.sleep(0.05)


async def test_a_killed_worker_is_restarted_and_the_port_keeps_serving(pool: WorkerPool) -> None:
    victim = pool.pids[0]
    survivor = pool.pids[1]
    assert await one_task(pool.url)
    os.kill(victim, signal.SIGKILL)
    async with asyncio.timeout(scaled(10)):
        while victim in pool.pids.values():  # noqa: ASYNC110 (the pool's own state)
            await asyncio.sleep(0.01)
    assert await one_task(pool.url)  # served by the survivor while the other restarts
    async with asyncio.timeout(scaled(30)):
        while len(pool.pids) < 2:  # noqa: ASYNC110 (the pool's own state)
            await asyncio.sleep(0.05)
    assert pool.pids[1] == survivor and pool.pids[0] != victim and pool.restarts == 1
    assert set(await sessions_by_worker(pool.url, set(pool.pids.values()))) == {survivor, pool.pids[0]}
    # The killed worker's counts stay in the sum; its open-sessions gauge left it.
    samples = await scrape(pool.url)
    assert samples["funasr_realtime_tasks_finished_total"] >= 2 and samples["funasr_realtime_sessions"] == 0


async def test_with_every_worker_down_a_connection_waits_for_the_restart() -> None:
    async with WorkerPool(ServerConfig(engine="synthetic"), 1, start_timeout=scaled(30)) as alone:
        victim = alone.pids[0]
        os.kill(victim, signal.SIGKILL)
        async with asyncio.timeout(scaled(10)):
            while victim in alone.pids.values():  # noqa: ASYNC110 (the pool's own state)
                await asyncio.sleep(0.01)
        assert await one_task(alone.url)  # accepted at once, handed over once the new worker serves
        assert alone.restarts == 1 and alone.pids[0] != victim


async def test_stop_ends_every_worker_and_frees_the_port() -> None:
    pool = WorkerPool(ServerConfig(engine="synthetic"), 2, start_timeout=scaled(30), stop_timeout=scaled(5))
    await pool.start()
    pids, url = list(pool.pids.values()), pool.url
    async with connect(url) as ws:
        async with asyncio.timeout(scaled(15)):
            await pool.stop()
        with pytest.raises(Exception):  # noqa: B017 -- the server went away: closed, reset or refused
            await asyncio.wait_for(ws.recv(), scaled(5))
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(OSError):
        await connect(url, open_timeout=scaled(5))


async def test_a_worker_that_cannot_start_fails_the_pool_with_its_reason(tmp_path: Path) -> None:
    grammar = tmp_path / "bad.jsgf"
    grammar.write_text("#JSGF V1.0;\ngrammar bad;\npublic <s> = zzqxw ;\n")  # a word not in the dictionary
    pool = WorkerPool(ServerConfig(grammar=grammar), 2, start_timeout=scaled(60))
    with pytest.raises(ConfigurationError, match=r"^worker \d could not start: invalid JSGF grammar"):
        await pool.start()
    assert pool.pids == {}


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        WorkerPool(ServerConfig(engine="synthetic"), 0)


# --------------------------------------------------------------------------- the worker's side


def test_a_worker_order_round_trips_and_a_cut_one_is_refused() -> None:
    order = WorkerOrder(ServerConfig(engine="synthetic"), 7, WorkerSlot(1, 2), "worker-1.sock")
    data = encode_order(order)
    assert read_order(io.BytesIO(data)) == order
    for cut in (data[:2], data[:-1]):
        with pytest.raises(EOFError):
            read_order(io.BytesIO(cut))
    other = pickle.dumps({"not": "an order"})
    with pytest.raises(TypeError):
        read_order(io.BytesIO(struct.pack(">I", len(other)) + other))


async def hand_over_a_health_request(ours: socket.socket) -> dict[str, object]:
    """What the supervisor does: accept a client, pass its descriptor on the channel; the client's answer."""
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        accepted, _ = listener.accept()
    with client, accepted:
        socket.send_fds(ours, [b"c"], [accepted.fileno()])
        client.setblocking(False)
        await loop.sock_sendall(client, b"GET /health HTTP/1.1\r\nHost: worker\r\n\r\n")
        response = b""
        async with asyncio.timeout(scaled(10)):
            while chunk := await loop.sock_recv(client, 65536):
                response += chunk
    body: dict[str, object] = json.loads(response.partition(b"\r\n\r\n")[2])
    return body


@pytest.fixture
def channel() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        yield ours, theirs


async def wait_ready(lines: list[str]) -> None:
    async with asyncio.timeout(scaled(20)):
        while not lines:  # noqa: ASYNC110 (the status line is a plain callback)
            await asyncio.sleep(0.02)


async def test_a_worker_serves_what_it_is_handed_and_says_when_it_closes(
    channel: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    ours, theirs = channel
    lines: list[str] = []
    stop = asyncio.Event()
    order = WorkerOrder(ServerConfig(engine="synthetic"), theirs.detach(), WorkerSlot(0, 1), str(tmp_path / "w.sock"))
    worker = asyncio.create_task(serve_worker(order, lines.append, stop))
    await wait_ready(lines)
    assert lines == ["ready"]
    body = await hand_over_a_health_request(ours)
    assert body["worker"] == 0 and body["workers"] == 1 and body["pid"] == os.getpid()
    ours.settimeout(scaled(10))
    assert await asyncio.to_thread(ours.recv, 16) == CLOSED  # the connection closed: one byte back
    stop.set()
    assert await asyncio.wait_for(worker, scaled(10)) == 0
    assert not (tmp_path / "w.sock").exists()


async def test_a_worker_stops_when_its_supervisor_goes(
    channel: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    """The channel ends, or stdin ends: a supervisor that died leaves no worker behind."""
    ours, theirs = channel
    lines: list[str] = []
    order = WorkerOrder(ServerConfig(engine="synthetic"), theirs.detach(), WorkerSlot(0, 1), str(tmp_path / "w.sock"))
    worker = asyncio.create_task(serve_worker(order, lines.append, asyncio.Event()))
    await wait_ready(lines)
    ours.close()
    assert await asyncio.wait_for(worker, scaled(10)) == 0

    pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    read_end, write_end = os.pipe()
    lines.clear()
    order = WorkerOrder(ServerConfig(engine="synthetic"), pair[1].detach(), WorkerSlot(0, 1), str(tmp_path / "w.sock"))
    try:
        worker = asyncio.create_task(run_worker(order, lines.append, read_end))
        await wait_ready(lines)
        os.write(write_end, b"x")  # anything written is ignored
        os.close(write_end)
        assert await asyncio.wait_for(worker, scaled(10)) == 0
    finally:
        os.close(read_end)
        pair[0].close()


async def test_a_worker_reports_why_its_server_cannot_start(
    channel: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    grammar = tmp_path / "bad.jsgf"
    grammar.write_text("#JSGF V1.0;\ngrammar bad;\npublic <s> = zzqxw ;\n")
    lines: list[str] = []
    order = WorkerOrder(ServerConfig(grammar=grammar), channel[1].detach(), WorkerSlot(0, 1), str(tmp_path / "w.sock"))
    with contextlib.redirect_stdout(io.StringIO()):
        code = await serve_worker(order, lines.append, asyncio.Event())
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error invalid JSGF grammar")


# --------------------------------------------------------------------------- serve --workers, in this process


def test_serve_workers_runs_until_sigterm(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's own path (the subprocess tests in test_serve_cli.py cannot measure it)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    seen: list[int] = []

    def stop_once_both_answer() -> None:
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline and len(set(seen)) < 2:
            with contextlib.suppress(httpx.HTTPError):
                seen.append(httpx.get(f"http://127.0.0.1:{port}/health", timeout=scaled(5)).json()["pid"])
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler takes it: the loop is in this thread

    stopper = threading.Thread(target=stop_once_both_answer)
    stopper.start()
    try:
        assert main(["serve", "--engine", "synthetic", "--workers", "2", "--port", str(port)]) == 0
    finally:
        stopper.join(scaled(70))
    assert len(set(seen)) == 2
    assert capsys.readouterr().out == f"listening on ws://127.0.0.1:{port}/api-ws/v1/inference\n"


def test_serve_workers_names_the_worker_that_cannot_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grammar = tmp_path / "bad.jsgf"
    grammar.write_text("#JSGF V1.0;\ngrammar bad;\npublic <s> = zzqxw ;\n")
    assert main(["serve", "--grammar", str(grammar), "--workers", "2"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("funasr-realtime: error: worker ") and "invalid JSGF grammar" in line
    assert "pass loglevel" not in line  # the Python advice is not for the command line
