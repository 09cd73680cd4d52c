"""What every benchmark shares: server and worker subprocesses, clocks, frames, statistics.

Each client under test runs in its own worker process (``python -m bench.worker``), so
its CPU time and RSS are its own; servers run in other processes. Every subprocess has a
time limit, and every benchmark bounds its own duration.

Cross-process timing uses ``time.monotonic_ns()``: on Linux it reads ``CLOCK_MONOTONIC``,
one clock for the whole machine, so a stamp taken in the server can be compared with one
taken in the client.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

#: 100 ms of 16 kHz s16le mono.
FRAME_BYTES = 3200
FRAME_S = 0.1

#: A stamp at the head of a benchmark audio frame: magic + the frame's scheduled send time.
MAGIC = b"\xb7BNC"
_STAMP = struct.Struct("<4sq")
STAMP_BYTES = _STAMP.size


# --------------------------------------------------------------------------- frames and time


def now_ns() -> int:
    return time.monotonic_ns()


def stamped_frame(scheduled_ns: int, size: int = FRAME_BYTES) -> bytes:
    """A frame of silence whose first bytes carry ``scheduled_ns`` (read by the stub server)."""
    return _STAMP.pack(MAGIC, scheduled_ns) + bytes(size - STAMP_BYTES)


def read_stamps(data: bytes) -> list[int]:
    """Every stamp in ``data`` (a client may merge frames into one message)."""
    stamps = []
    at = data.find(MAGIC)
    while at >= 0 and at + STAMP_BYTES <= len(data):
        stamps.append(_STAMP.unpack_from(data, at)[1])
        at = data.find(MAGIC, at + STAMP_BYTES)
    return stamps


def trailing_silence_ms(pcm: bytes, rate: int = 16000, threshold: int = 300) -> int:
    """Milliseconds of near-silence at the end of ``pcm`` (10 ms windows, peak below threshold)."""
    import array

    samples = array.array("h", pcm)
    window = rate // 100
    end = len(samples)
    while end > 0 and max(abs(s) for s in samples[max(0, end - window) : end]) < threshold:
        end -= window
    return (len(samples) - max(end, 0)) * 1000 // rate


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def involuntary_switches() -> int:
    """Times this process was preempted: high counts mean it competed for its core."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (thousands of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin(cpus: Sequence[int] | None) -> None:
    """Pin this process to ``cpus`` (None: leave it alone; ignored where unsupported)."""
    if cpus:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, set(cpus))


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0-100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p90, p99, max and mean of ``values``."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else math.nan


def ratio(value: float, comparison: float) -> float:
    return comparison / value if value else math.inf


# --------------------------------------------------------------------------- subprocesses


@dataclass
class WorkerResult:
    ok: bool
    data: dict[str, Any]
    error: str = ""
    wall_s: float = 0.0


def run_worker(
    module: str,
    function: str,
    args: dict[str, Any],
    *,
    timeout: float,
    cpus: Sequence[int] | None = None,
    profile: Path | None = None,
    profile_seconds: float = 8.0,
) -> WorkerResult:
    """Run ``bench.<module>.<function>(**args)`` in a fresh process; its JSON result.

    ``cpus`` pins the worker. ``profile``: once the worker signals its steady state
    (:func:`bench.drivers.mark_streaming`), py-spy attaches to it for ``profile_seconds``
    and writes raw collapsed stacks there (connects and imports stay out of the profile).
    The worker (its whole process group) is killed after ``timeout`` seconds.
    """
    command = [PYTHON, "-m", "bench.worker", module, function, json.dumps(args)]
    if cpus:
        command[3:3] = ["--cpus", ",".join(map(str, cpus))]
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("DASHSCOPE_API_KEY", None)
    env.pop("DASHSCOPE_WEBSOCKET_BASE_URL", None)
    marker = None
    if profile is not None:
        marker = profile.with_suffix(".streaming")
        marker.unlink(missing_ok=True)
        env["BENCH_STREAMING_MARKER"] = str(marker)
    # A session of its own: on timeout the whole group goes.
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and modules)
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    spy = None
    if profile is not None and marker is not None:
        while not marker.exists() and process.poll() is None and time.monotonic() - started < timeout:
            time.sleep(0.05)
        if process.poll() is None:
            spy_command = [str(Path(PYTHON).with_name("py-spy")), "record", "--pid", str(process.pid)]
            spy_command += ["--duration", str(max(1, round(profile_seconds))), "--rate", "500", "--nonblocking"]
            spy_command += ["--format", "raw", "-o", str(profile)]
            spy = subprocess.Popen(spy_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        marker.unlink(missing_ok=True)
    try:
        stdout, stderr = process.communicate(timeout=max(1.0, timeout - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return WorkerResult(False, {}, f"timed out after {timeout:g} s", time.monotonic() - started)
    finally:
        if spy is not None:
            try:
                spy.wait(profile_seconds + 10)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    wall = time.monotonic() - started
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return WorkerResult(True, json.loads(line.removeprefix("RESULT ")), "", wall)
    tail = (stderr or stdout).strip().splitlines()[-5:]
    return WorkerResult(False, {}, f"exit {process.returncode}: {' | '.join(tail)}", wall)


class ServerProcess:
    """A server in its own process (``funasr-realtime serve`` or the stub), optionally pinned.

    ``cpu_seconds()`` reads its CPU time (with its threads) for utilization figures.
    """

    def __init__(self, command: list[str], *, cpus: Sequence[int] | None = None, timeout: float = 60.0) -> None:
        self.command = command
        self.cpus = cpus
        self.timeout = timeout
        self.url = ""
        self._process: subprocess.Popen[str] | None = None
        self._ps: psutil.Process | None = None

    @classmethod
    def funasr(cls, *args: str, cpus: Sequence[int] | None = None) -> ServerProcess:
        """``funasr-realtime serve ARGS`` (synthetic or pocketsphinx engine)."""
        return cls([PYTHON, "-m", "funasr_realtime.cli", "serve", *args], cpus=cpus)

    @classmethod
    def stub(cls, *args: str, cpus: Sequence[int] | None = None) -> ServerProcess:
        """The scripted benchmark server (:mod:`bench.stub_server`)."""
        return cls([PYTHON, "-m", "bench.stub_server", *args], cpus=cpus)

    def __enter__(self) -> ServerProcess:
        raise_fd_limit()  # inherited by the child
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._process = subprocess.Popen(  # noqa: S603  (our own interpreter and modules)
            self.command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        if self.cpus:
            with contextlib.suppress(AttributeError, OSError):
                os.sched_setaffinity(self._process.pid, set(self.cpus))
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("listening on "):
            self.__exit__(None, None, None)
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = line.removeprefix("listening on ").strip()
        self._ps = psutil.Process(self._process.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> float:
        assert self._ps is not None
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """The stub server's counters (``/stats``)."""
        http_url = self.url.replace("ws://", "http://", 1).split("/api-ws", 1)[0]
        with urllib.request.urlopen(f"{http_url}/stats{'?reset=1' if reset else ''}", timeout=10) as reply:  # noqa: S310
            return dict(json.loads(reply.read()))


@contextlib.contextmanager
def cpu_meter(server: ServerProcess) -> Iterator[dict[str, float]]:
    """Measure a server's CPU seconds and wall seconds over a block (filled in at exit)."""
    out: dict[str, float] = {}
    cpu, wall = server.cpu_seconds(), time.monotonic()
    yield out
    out["cpu_s"] = server.cpu_seconds() - cpu
    out["wall_s"] = time.monotonic() - wall
    out["utilization"] = out["cpu_s"] / out["wall_s"] if out["wall_s"] else math.nan


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in (
        "funasr-realtime",
        "websockets",
        "dashscope",
        "aiohttp",
        "pocketsphinx",
        "pipecat-ai",
        "livekit-agents",
    ):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": model or platform.processor(),
        "cores": cores(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_before": os.getloadavg()[0],
        "versions": versions,
    }


# --------------------------------------------------------------------------- report plumbing


@dataclass
class Context:
    """How a benchmark runs: ``quick`` is the seconds-long smoke configuration."""

    quick: bool = False
    small: bool = False  # between quick and full: a few minutes, for development machines
    profile: bool = True
    verbose: bool = True

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Row:
    """One line of the report's summary table."""

    item: str
    figure: str
    ours: str
    comparison: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: bool | None = None


def fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}{unit}"


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else ("∞" if math.isinf(value) else f"{value:.1f}x")


def intro(doc: str | None) -> str:
    """A benchmark module's docstring without its title line: the report section's opening."""
    return (doc or "").split("\n\n", 1)[1].strip()


def side_by_side(ours: dict[str, Any], sdk: dict[str, Any]) -> list[str]:
    """The per-run cells every CPU table shows for two clients, "ours / SDK": send-call lag
    p99 (ms), results received, errors, and threads."""

    def results(run: dict[str, Any]) -> int:
        return int(run.get("partials", 0)) + int(run.get("finals", 0))

    return [
        f"{fmt(ours.get('send_lag', {}).get('p99'), 1)} / {fmt(sdk.get('send_lag', {}).get('p99'), 1)}",
        f"{results(ours)} / {results(sdk)}",
        f"{ours.get('errors', '?')} / {sdk.get('errors', '?')}",
        f"{ours.get('threads', '?')} / {sdk.get('threads', '?')}",
    ]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
