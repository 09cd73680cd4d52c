"""Run the benchmarks and write the report (``BENCHMARKS.md`` + ``bench/*.png``).

Results are kept in ``bench/results.json`` next to the plots, per benchmark, with the
machine they ran on, so ``--only NAME`` re-runs one benchmark and re-renders the whole
report from the stored results of the others.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from . import (
    adapters,
    client_cpu,
    compat_cpu,
    concurrency,
    endpointing,
    hotpath,
    latency,
    long_file,
    memory,
    network,
    prewarm,
    server,
)
from .common import Context, Row, fmt, machine, table

BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (
        client_cpu,
        compat_cpu,
        concurrency,
        memory,
        latency,
        endpointing,
        prewarm,
        adapters,
        server,
        long_file,
        network,
        hotpath,
    )
}

REPRODUCE = "make bench"


def run(names: list[str], ctx: Context, out_dir: Path) -> dict[str, Any]:
    """Run the named benchmarks; merge into the stored results; write the report."""
    plot_dir = out_dir / "bench"
    plot_dir.mkdir(parents=True, exist_ok=True)
    store = plot_dir / "results.json"
    results: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    for name in names:
        ctx.log(f"=== {BENCHMARKS[name].TITLE}")
        started = time.monotonic()
        info = machine()
        try:
            data = BENCHMARKS[name].run(ctx)
            error = None
        except Exception:  # one broken benchmark must not lose the others' results
            data, error = {}, traceback.format_exc()
            ctx.log(f"{name} failed:\n{error}")
        results[name] = {
            "quick": ctx.quick,
            "small": ctx.small,
            "machine": info,
            "duration_s": time.monotonic() - started,
            "error": error,
            "data": data,
        }
        store.write_text(json.dumps(results, indent=1, default=_json_default))
    write(results, out_dir)
    return results


def _json_default(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def write(results: dict[str, Any], out_dir: Path) -> Path:
    plot_dir = out_dir / "bench"
    sections: list[str] = []
    summary: list[Row] = []
    for name, module in BENCHMARKS.items():
        entry = results.get(name)
        if entry is None:
            continue
        sections.append(f"## {module.TITLE}")
        if entry.get("error"):
            sections.append(f"This benchmark failed in the last run:\n\n```\n{entry['error'][-2000:]}\n```")
            continue
        try:
            text, rows = module.render(entry["data"], plot_dir)
        except Exception:
            sections.append(f"Rendering failed:\n\n```\n{traceback.format_exc()[-2000:]}\n```")
            continue
        took = f"_Measured {entry['machine']['date']} in {entry['duration_s']:.0f} s"
        if entry.get("quick"):
            took += " (quick smoke configuration: not for publication)._"
        elif entry.get("small"):
            took += " (`--small` configuration: reduced loads)._"
        else:
            took += "._"
        sections += [text.rstrip() + "\n\n" + took]
        summary += rows
    path = out_dir / "BENCHMARKS.md"
    path.write_text(
        "\n".join([*_head(results), *_summary(summary), *sections_with_gaps(sections), *_analysis(results)]) + "\n"
    )
    return path


def sections_with_gaps(sections: list[str]) -> list[str]:
    out: list[str] = []
    for section in sections:
        out += [section, ""]
    return out


def _head(results: dict[str, Any]) -> list[str]:
    machines = [entry["machine"] for entry in results.values() if entry.get("machine")]
    first = machines[0] if machines else machine()
    versions = ", ".join(f"{k} {v}" for k, v in first.get("versions", {}).items())
    loads = [m.get("load_before", math.nan) for m in machines]
    quick = any(entry.get("quick") for entry in results.values())
    dates = sorted(m["date"] for m in machines) or ["?"]
    head = [
        "# Benchmarks",
        "",
        "Every figure below was measured side by side in one run of the benchmark suite (`bench/`) on the machine "
        "described here, and every plot was drawn by that run. Reproduce with:",
        "",
        "```sh",
        f"{REPRODUCE}        # = .venv/bin/python -m bench   (one benchmark: python -m bench --only latency)",
        "```",
        "",
        f"Machine: {first.get('cpu')}, {first.get('cores')} cores, {first.get('memory_gb')} GB; "
        f"{first.get('platform')}; Python {first.get('python')}; {versions}. "
        f"Measured {dates[0]} to {dates[-1]}; "
        f"1-minute load average before each benchmark: {', '.join(fmt(x, 1) for x in loads)}.",
        "",
    ]
    if quick:
        head += ["> **Smoke configuration (`--quick`)**: tiny loads, numbers only prove the suite runs.", ""]
    elif any(entry.get("small") for entry in results.values()):
        head += [
            "> **Reduced configuration (`--small`)**, run on a shared development machine: smaller loads and "
            "shorter runs than `make bench`. The publication figures come from `make bench` on an idle machine.",
            "",
        ]
    head += [
        "How it is measured, in general: each client under test runs in its **own process** (`python -m "
        "bench.worker`), pinned to CPU 0, so its CPU time and RSS are its own and the official SDK's threads do not "
        "share an interpreter with ours; servers run as **separate processes** on 127.0.0.1, pinned to CPU 1. Every "
        "worker and server has a time limit. Audio is 16 kHz s16le mono in 100 ms frames at real-time pace. Clocks "
        "compared across processes are `time.monotonic_ns()` (CLOCK_MONOTONIC, one clock per machine). The "
        "comparison client is the official `dashscope` SDK 2.0.2 (`Recognition.start` / `send_audio_frame` / "
        "`stop`) pointed at the same local server.",
        "",
    ]
    return head


def _summary(rows: list[Row]) -> list[str]:
    def met(value: bool | None) -> str:
        return "—" if value is None else ("✅ met" if value else "❌ **missed**")

    body = [[r.item, r.figure, r.ours, r.comparison, r.ratio, r.target, met(r.met)] for r in rows]
    return [
        "## Summary",
        "",
        "Ratios are *comparison ÷ ours* (how many times better we are), unless stated.",
        "",
        table(["#", "figure", "funasr-realtime", "comparison", "ratio", "target", "status"], body),
        "",
    ]


def _analysis(results: dict[str, Any]) -> list[str]:
    """The findings that tie the figures together (bench/ANALYSIS.md, kept with the code)."""
    path = Path(__file__).with_name("ANALYSIS.md")
    return [path.read_text().rstrip(), ""] if path.exists() else []
