"""The benchmark suite runs end to end (``python -m bench --quick``): it never rots.

Only that every benchmark produces numbers and the report with its plots is written; the
figures of a smoke run on a busy test machine prove nothing and targets are not checked.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.timing import scaled

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)  # scaled by FUNASR_TEST_MS, as every timeout is (tests/conftest.py)

PLOTS = (
    "client_cpu.png",
    "compat_cpu.png",
    "concurrency.png",
    "memory.png",
    "latency_receive.png",
    "latency_send.png",
    "endpointing.png",
    "prewarm.png",
    "adapters.png",
    "server_capacity.png",
    "network.png",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--quiet", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(540),
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_every_benchmark_measured_something(quick_run: Path) -> None:
    results = json.loads((quick_run / "bench" / "results.json").read_text())
    assert set(results) == {
        "client_cpu",
        "compat_cpu",
        "concurrency",
        "memory",
        "latency",
        "endpointing",
        "prewarm",
        "adapters",
        "long-file",
        "network",
        "server",
        "hotpath",
    }
    assert not [name for name, entry in results.items() if entry["error"]]
    data = {name: entry["data"] for name, entry in results.items()}
    assert all(run["ok"] and run["cpu_s"] > 0 for run in data["client_cpu"]["runs"])
    assert all(run["ok"] and run["cpu_s"] > 0 for run in data["compat_cpu"]["runs"])
    assert data["concurrency"]["ours"][0]["frames_sent"] > 0
    assert data["memory"]["ours"]["points"] and data["memory"]["sdk"]["points"]
    assert data["latency"]["ours"]["handed_in_to_socket_ms"] and data["latency"]["sdk"]["server_to_app_ms"]
    assert [s["ms"] for s in data["endpointing"]["rotation"]] and all(s["ms"] for s in data["endpointing"]["server"])
    assert data["prewarm"]["ours"]["warm"] and data["prewarm"]["sdk"]["cold"]
    assert data["adapters"]["pipecat"]["samples"] and data["adapters"]["livekit"]["samples"]
    assert all(not math.isnan(row["wall_s"]) for side in data["server"]["rtf"].values() for row in side["rows"])
    assert data["hotpath"]["micro"]["send_audio_us"] > 0
    long_file = data["long-file"]
    assert long_file["ours"]["words"] > 0 and long_file["ours"]["dropped_ms"] == 0
    assert long_file["engine"]["words"] > 0 and long_file["sdk"]["status"] == 200
    assert all(long_file[side]["peak_rss_mb"] > 0 for side in ("engine", "ours", "sdk"))
    assert long_file["ours"]["server"]["peak_rss_mb"] > 0
    network = data["network"]
    for rtt in network["rtts_ms"]:
        point = network[str(rtt)]
        assert all(s["ms"] for s in point["endpointing"]["rotation"] + point["endpointing"]["server"])
        assert point["first"]["warm"] and point["first"]["cold"] and point["sdk_first"]["cold"]
        assert point["rotation"]["waits"] and {p["mode"] for p in point["rotation"]["passes"]} == {"rotation", "long"}


def test_the_report_and_its_plots_are_written(quick_run: Path) -> None:
    report = (quick_run / "BENCHMARKS.md").read_text()
    assert "## Summary" in report and "make bench" in report
    assert "Smoke configuration" in report
    for plot in PLOTS:
        assert (quick_run / "bench" / plot).stat().st_size > 1000, plot
        assert f"bench/{plot}" in report
