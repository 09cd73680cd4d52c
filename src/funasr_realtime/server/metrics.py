"""What the local server counts for its operators: ``GET /metrics`` in Prometheus text format.

Every :class:`~.app.LocalServer` has its own :class:`ServerMetrics` on its own
``CollectorRegistry`` (never prometheus-client's global one: several servers may run in one
process, as in a test suite). Counters move as things happen; gauges are read from the
server's live state (:class:`LiveState`) when they are scraped, and every second in worker
mode.

With ``serve --workers N`` the workers run with ``PROMETHEUS_MULTIPROC_DIR`` set
(:mod:`.workers`): prometheus-client then keeps every worker's values in files of that
folder, and :func:`exposition` answers with the sum over all workers, whichever worker the
scrape reaches. Counters of a worker that died stay in the sum (a counter never goes back);
its gauges leave it (``livesum``, removed by the supervisor with ``mark_process_dead``).

The series (all prefixed ``funasr_realtime_``):

* ``sessions`` (gauge): WebSocket connections open; ``sessions_accepted_total``: connections accepted;
* ``tasks_started_total``, ``tasks_finished_total``, ``tasks_failed_total`` (a task that had
  started and ended with task-failed), ``tasks_running`` (gauge);
* ``errors_total{code}``: task-failed messages sent, by the service's error code (a run-task
  refused before it started counts here, not in ``tasks_failed_total``);
  ``handshakes_refused_total{status}``: WebSocket handshakes refused (401 a bad key, 503 full, 404...);
* ``audio_received_bytes_total``; ``audio_received_seconds_total``: PCM and WAV audio counted
  as it arrives, compressed audio as it is decoded (its duration is known only then);
  ``audio_recognized_seconds_total``: audio that went through the engine;
* ``backlog_bytes`` and ``backlog_seconds`` (gauges): received and not recognized yet
  (:mod:`.flow`); the seconds cover PCM and WAV tasks, whose duration the bytes give.
"""

from __future__ import annotations

import os
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "ConnectionMeter", "LiveState", "ServerMetrics", "exposition", "multiprocess_dir"]

#: The exposition format :func:`exposition` writes (Prometheus text format 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_PREFIX = "funasr_realtime"


def multiprocess_dir() -> str | None:
    """The folder of prometheus-client's multiprocess mode, when this process runs in it."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class LiveState(Protocol):
    """What the gauges read from a running server."""

    @property
    def active_connections(self) -> int: ...

    @property
    def running_tasks(self) -> int: ...

    @property
    def backlog_bytes(self) -> int: ...

    @property
    def backlog_seconds(self) -> float: ...


class ServerMetrics:
    """The counters and gauges of one server, on their own :attr:`registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._state: LiveState | None = None

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"{_PREFIX}_{name}", doc, labels, registry=self.registry)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"{_PREFIX}_{name}", doc, registry=self.registry, multiprocess_mode="livesum")

        self.sessions_accepted = counter("sessions_accepted", "WebSocket connections accepted.")
        self.tasks_started = counter("tasks_started", "Tasks started (task-started sent).")
        self.tasks_finished = counter("tasks_finished", "Tasks finished (task-finished sent).")
        self.tasks_failed = counter("tasks_failed", "Started tasks that ended with task-failed.")
        self.errors = counter("errors", "task-failed messages sent, by error code.", ("code",))
        self.refused = counter("handshakes_refused", "WebSocket handshakes refused, by HTTP status.", ("status",))
        self.received_bytes = counter("audio_received_bytes", "Binary audio frames received, in bytes.")
        self.received_seconds = counter(
            "audio_received_seconds", "Audio received (PCM and WAV on arrival, compressed audio once decoded)."
        )
        self.recognized_seconds = counter("audio_recognized_seconds", "Audio that went through the engine.")
        self._sessions = gauge("sessions", "WebSocket connections open.")
        self._running = gauge("tasks_running", "Tasks running now.")
        self._backlog_bytes = gauge("backlog_bytes", "Audio received and not recognized yet, in bytes.")
        self._backlog_seconds = gauge("backlog_seconds", "PCM and WAV audio received and not recognized yet.")

    def watch(self, state: LiveState) -> None:
        """Read the gauges from ``state`` from now on."""
        self._state = state

    def refresh(self) -> None:
        """Set the gauges from the live state (a scrape does; so does the worker's timer)."""
        state = self._state
        if state is None:
            return
        self._sessions.set(state.active_connections)
        self._running.set(state.running_tasks)
        self._backlog_bytes.set(state.backlog_bytes)
        self._backlog_seconds.set(state.backlog_seconds)

    def failed(self, code: str, *, started: bool) -> None:
        """A task-failed with ``code`` was sent; ``started``: the task had been started."""
        self.errors.labels(code=code).inc()
        if started:
            self.tasks_failed.inc()


class ConnectionMeter:
    """One connection's counts, into ``metrics`` (nothing is counted when it is None).

    The connection calls :meth:`received` for each binary frame its reader gets, and
    :meth:`progressed` with the task's recognized audio after each recognition job. Before
    a run-task names the format, frames count as 16 kHz PCM (as the inbox's bound does).
    """

    def __init__(self, metrics: ServerMetrics | None) -> None:
        self._metrics = metrics
        self._bytes_per_second: int | None = 32000
        self._audio_ms = 0

    def received(self, size: int) -> None:
        if self._metrics is None:
            return
        self._metrics.received_bytes.inc(size)
        if self._bytes_per_second is not None:
            self._metrics.received_seconds.inc(size / self._bytes_per_second)

    def started(self, *, compressed: bool, sample_rate: int) -> None:
        """A task started: its audio is compressed, or PCM/WAV at ``sample_rate``."""
        self._bytes_per_second = None if compressed else 2 * sample_rate
        self._audio_ms = 0
        if self._metrics is not None:
            self._metrics.tasks_started.inc()

    def progressed(self, audio_ms: int) -> None:
        """The running task has recognized ``audio_ms`` of audio in all."""
        seconds = (audio_ms - self._audio_ms) / 1000
        self._audio_ms = audio_ms
        if self._metrics is None or seconds <= 0:
            return
        self._metrics.recognized_seconds.inc(seconds)
        if self._bytes_per_second is None:  # compressed: its duration is known now
            self._metrics.received_seconds.inc(seconds)

    def finished(self) -> None:
        if self._metrics is not None:
            self._metrics.tasks_finished.inc()

    def failed(self, code: str, *, started: bool) -> None:
        if self._metrics is not None:
            self._metrics.failed(code, started=started)

    def backlog_seconds(self, queued_bytes: int) -> float:
        """``queued_bytes`` of this connection as seconds of audio (0 for compressed audio)."""
        return queued_bytes / self._bytes_per_second if self._bytes_per_second else 0.0


def exposition(metrics: ServerMetrics) -> bytes:
    """The scrape's body: this server's series, or every worker's summed in multiprocess mode."""
    metrics.refresh()
    folder = multiprocess_dir()
    if folder is None:
        return generate_latest(metrics.registry)
    combined = CollectorRegistry()
    MultiProcessCollector(combined, folder)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
    return generate_latest(combined)
