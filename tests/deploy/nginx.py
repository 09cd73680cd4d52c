"""nginx in front of `funasr-realtime serve` instances, all on loopback, for the deployment tests.

nginx runs the shipped template ``deploy/nginx/funasr-realtime.conf``, rendered with this run's
addresses, inside a main configuration of the test's own: prefix, pid file, logs and temporary
directories all under the test's directory, so it needs no root and leaves the machine's nginx
(if any) alone.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]

from funasr_realtime.server.config import INFERENCE_PATH
from tests.timing import scaled

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "funasr-realtime.conf"
PLACEHOLDER = re.compile(r"@([A-Z0-9_]+)@")
#: Where Debian's package puts nginx: /usr/sbin is not on a normal user's PATH.
SBIN = os.pathsep.join(("/usr/sbin", "/usr/local/sbin"))
#: One access-log line per proxied request, written when it ends: what it asked for and the
#: instances tried, the last one being the one that served it ("A:1, B:2" after a failover).
LOG_FORMAT = "'$uri $status \"$upstream_addr\"'"


def find_nginx() -> str | None:
    """The nginx binary: on PATH, else where Debian installs it; None when there is none."""
    return shutil.which("nginx") or shutil.which("nginx", path=SBIN)


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``@NAME@`` replaced by ``values[NAME]``; KeyError names one without a value."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for the placeholder @{name}@")
        return values[name]

    return PLACEHOLDER.sub(fill, template)


@dataclass
class Instance:
    """One ``funasr-realtime serve`` process and where it listens."""

    process: subprocess.Popen[str]
    url: str

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as an nginx upstream server line names it."""
        return urlsplit(self.url).netloc

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def sessions(self) -> int:
        """Connections open to it now: the established TCP sockets on its own port (nginx's),
        in its process or its children (worker processes, with ``--workers``)."""
        process = psutil.Process(self.process.pid)
        connections = [c for p in (process, *process.children(recursive=True)) for c in p.net_connections("tcp")]
        return sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no close frame, no goodbye."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(scaled(10))


@contextmanager
def instances(count: int, logs: Path, *args: str) -> Iterator[list[Instance]]:
    """``count`` server processes started at once with the CLI ``args``, each listening (its
    stderr in ``logs``, quoted if it fails to start); all stopped afterwards."""
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[str]] = []
    try:
        for n in range(count):
            with (logs / f"serve-{n}.log").open("w") as stderr:
                command = [sys.executable, "-m", "funasr_realtime.cli", "serve", *args]
                processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True))
        yield [Instance(p, _listening_url(p, logs / f"serve-{n}.log")) for n, p in enumerate(processes)]
    finally:
        for process in processes:
            _stop(process)


def _listening_url(process: subprocess.Popen[str], log: Path) -> str:
    """The URL of the ``listening on URL`` line the server prints once ready (bounded wait)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        line = process.stdout.readline() if selector.select(scaled(60)) else ""
    assert line.startswith("listening on "), f"server did not start: {line!r}\n{log.read_text()[-2000:]}"
    return line.removeprefix("listening on ").strip()


@dataclass
class Nginx:
    """A running nginx: its WebSocket URL and its access log."""

    process: subprocess.Popen[bytes]
    prefix: Path
    url: str

    def tried(self, count: int) -> list[list[str]]:
        """The instances nginx tried for each of the first ``count`` sessions to end, in the order
        they ended; the last one tried is the one that served it. Waits, bounded, for their log
        lines (nginx writes one as a session ends)."""
        log = self.prefix / "access.log"
        deadline = time.monotonic() + scaled(10)
        while True:
            lines = [line for line in log.read_text().splitlines() if line.startswith(INFERENCE_PATH)]
            if len(lines) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(lines) >= count, f"nginx logged {len(lines)} sessions, not {count}: {lines}"
        return [line.split('"')[1].split(", ") for line in lines[:count]]

    def served_by(self, count: int) -> list[str]:
        """The instance that served each of the first ``count`` sessions to end (see :meth:`tried`)."""
        return [tried[-1] for tried in self.tried(count)]


@contextmanager
def running_nginx(binary: str, prefix: Path, upstreams: Sequence[str]) -> Iterator[Nginx]:
    """nginx in the foreground (``daemon off``) proxying a free loopback port to ``upstreams``,
    ready to accept connections; stopped (SIGTERM, then SIGKILL after a bound) afterwards."""
    port = _free_port()
    _write_config(prefix, f"127.0.0.1:{port}", upstreams)
    command = [binary, "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf")]
    with (prefix / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        _wait_until_listening(process, port, prefix)
        workers = psutil.Process(process.pid).children()
        yield Nginx(process, prefix, f"ws://127.0.0.1:{port}{INFERENCE_PATH}")
    finally:
        _stop(process)
    # The master waits for its workers before it exits; this checks that none was left behind.
    _, alive = psutil.wait_procs(workers, timeout=scaled(5))
    assert not alive, f"nginx workers outlived their master: {alive}"


def _write_config(prefix: Path, listen: str, upstreams: Sequence[str]) -> None:
    """The rendered template and the main configuration that includes it, in ``prefix``."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
    values = {"LISTEN": listen, **{f"INSTANCE_{n}": address for n, address in enumerate(upstreams, 1)}}
    (prefix / "funasr-realtime.conf").write_text(render(TEMPLATE.read_text(), values))
    temp_paths = [f'    {name}_temp_path "{prefix}/temp/{name}";' for name in ("proxy", "fastcgi", "uwsgi", "scgi")]
    main = [
        "worker_processes 1;",
        f'pid "{prefix}/nginx.pid";',
        f'error_log "{prefix}/error.log" info;',
        "events { worker_connections 256; }",
        "http {",
        f"    log_format sessions {LOG_FORMAT};",
        f'    access_log "{prefix}/access.log" sessions;',
        f'    client_body_temp_path "{prefix}/temp/body";',
        *temp_paths,
        f'    include "{prefix}/funasr-realtime.conf";',
        "}",
    ]
    (prefix / "nginx.conf").write_text("\n".join(main) + "\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, prefix: Path) -> None:
    deadline = time.monotonic() + scaled(10)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            logs = [path.read_text() for path in (prefix / "stderr.log", prefix / "error.log") if path.exists()]
            raise RuntimeError(f"nginx exited with {process.returncode}: {''.join(logs)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen on port {port} within {scaled(10):g} s")


def _stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it is still there after a bound."""
    process.terminate()
    try:
        process.wait(scaled(10))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
