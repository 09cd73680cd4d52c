"""10. Latency over a real network: 0, 30, 80 and 150 ms round trip.

One server process runs the real engine (pocketsphinx with the fixture grammar, Silero VAD,
``max_sentence_silence`` 1300 ms) on CPU 1. In front of it, in a process of its own, the
fault proxy (``funasr_realtime.testing.FaultProxy``) delays every chunk by half the round
trip in each direction; every client connects through it. Per round trip, one worker each
(CPU 0):

* **end of speech → final** (the method of section 5): each fixture sentence, its
  trailing silence cut, at real time through a pre-warmed stream, then either
  ``finalize()`` at once (**rotation**, what the adapters do on the framework's VAD stop)
  or silence until the server's **VAD** ends the sentence;
* **first package delay** (as section 6, with speech instead of the stub): first
  ``send_audio`` → first result with text, on a **pre-warmed** stream and a **cold** one
  (a client of its own each attempt, so nothing warm is shared), beside the official SDK
  (frames right after ``start()``, and after waiting until its task is open). *First
  audio on the wire* is how long the first audio waited for its task: ``acquire_ms``
  (the connect, ≈0 when pre-warmed) + ``start_delay_ms`` (run-task → task-started);
* **the cost of a rotation against one long task**: the sentences back to back in one
  stream, ``finalize()`` at each end of speech with the next sentence's audio following at
  once (the worst case), against the same audio as one task. A rotated task's first audio
  waits ``acquire_ms`` + ``start_delay_ms`` (the standby connection, then run-task →
  task-started); each task is billed in whole seconds.

The proxy sits on loopback: TCP connects to it at once, so a cold connect here pays the
WebSocket upgrade and run-task round trips but not the TCP and TLS handshakes a real
network adds (one round trip each with TLS 1.3). Nor is the service's own processing time
measured: the engine is local.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from . import plots
from .common import PYTHON, Context, Row, ServerProcess, fmt, fmt_ratio, intro, run_worker, summary, table
from .endpointing import SENTENCES

NAME = "network"
TITLE = "10. Latency over a real network"
RTTS_MS = (0, 30, 80, 150)


def run(ctx: Context) -> dict[str, Any]:
    """Every figure at every round trip, on one server process."""
    from tests.conftest import GRAMMAR

    rtts = (80,) if ctx.quick else RTTS_MS  # quick: one point, the fit is n/a
    names = ["s1"] if ctx.quick else list(SENTENCES)
    ends = 1 if ctx.quick or ctx.small else 3  # passes over the sentences
    firsts = 1 if ctx.quick else (6 if ctx.small else 20)  # attempts per start mode
    rotations = ["s1", "s2"] if ctx.quick else names
    out: dict[str, Any] = {"rtts_ms": list(rtts), "sentences": len(names), "passes": ends, "attempts": firsts}
    with ServerProcess.funasr("--grammar", str(GRAMMAR), cpus=[1]) as server:
        for rtt in rtts:
            point: dict[str, Any] = {}
            with ServerProcess([PYTHON, "-m", "bench.net_proxy", server.url, str(rtt)]) as proxy:
                ctx.log(f"network: {rtt} ms round trip")
                jobs = _jobs(names, rotations, ends, firsts)
                for key, module, function, args, budget in jobs:
                    worker = run_worker(module, function, {"url": proxy.url, **args}, timeout=60 + budget, cpus=[0])
                    point[key] = {"ok": worker.ok, "error": worker.error, **worker.data}
            out[str(rtt)] = point
    return out


def _jobs(names: list[str], rotations: list[str], ends: int, firsts: int) -> list[tuple[str, str, str, Any, int]]:
    """(result key, module, function, arguments, time budget s) of the workers run at each round trip."""
    first = {"names": names, "repeats": firsts}
    return [
        ("endpointing", "endpointing", "worker", {"names": names, "repeats": ends, "modes": ["rotation", "server"]},
         12 * len(names) * ends),
        ("first", "network_workers", "first_result_worker", first, 8 * (firsts + 1)),
        ("sdk_first", "network_workers", "sdk_first_result_worker", first, 8 * (firsts + 1)),
        ("rotation", "network_workers", "rotation_worker", {"names": rotations, "repeats": ends},
         12 * len(rotations) * ends),
    ]  # fmt: skip


# --------------------------------------------------------------------------- figures


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``y = a + b * x`` (NaN when fewer than two points)."""
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
    if len(points) < 2:
        return float("nan"), float("nan")
    n = len(points)
    mx, my = sum(p[0] for p in points) / n, sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    b = sum((p[0] - mx) * (p[1] - my) for p in points) / var if var else float("nan")
    return my - b * mx, b


def _ms(samples: list[dict[str, Any]], *keys: str) -> list[float]:
    """The sum of ``keys`` per sample, for the samples that have them all."""
    return [sum(s[k] for k in keys) for s in samples if all(s.get(k) is not None for k in keys)]


def series(result: dict[str, Any]) -> dict[str, dict[int, dict[str, float]]]:
    """Per figure, its summary (p50, p99...) at each round trip: ``{figure: {rtt: summary}}``."""
    figures: dict[str, dict[int, dict[str, float]]] = {}
    for rtt in result["rtts_ms"]:
        point = result[str(rtt)]
        samples = {
            "rotation": [s["ms"] for s in point["endpointing"].get("rotation", []) if s["ms"] is not None],
            "server VAD": [s["ms"] for s in point["endpointing"].get("server", []) if s["ms"] is not None],
            "first result, warm": _ms(point["first"].get("warm", []), "wall_ms"),
            "first result, cold": _ms(point["first"].get("cold", []), "wall_ms"),
            "SDK first result, cold": _ms(point["sdk_first"].get("cold", []), "wall_ms"),
            "SDK first result, task open": _ms(point["sdk_first"].get("warm", []), "wall_ms"),
            "first audio on the wire, warm": _ms(point["first"].get("warm", []), "acquire_ms", "start_delay_ms"),
            "first audio on the wire, cold": _ms(point["first"].get("cold", []), "acquire_ms", "start_delay_ms"),
            "rotation wait": _ms(point["rotation"].get("waits", []), "acquire_ms", "start_delay_ms"),
        }
        for figure, values in samples.items():
            figures.setdefault(figure, {})[rtt] = summary(values)
    return figures


def _billing(point: dict[str, Any]) -> tuple[float, float]:
    """(extra billed seconds per rotation, rotations) over the rotation passes against the long ones."""
    passes = point["rotation"].get("passes", [])
    rotated = [p for p in passes if p["mode"] == "rotation"]
    long = [p for p in passes if p["mode"] == "long"]
    rotations = sum(p["tasks"] - 1 for p in rotated)
    if not rotations or not long:
        return float("nan"), 0
    extra = sum(p["billed_s"] for p in rotated) - sum(p["billed_s"] for p in long)
    return extra / rotations, rotations


def model(figures: dict[str, dict[int, dict[str, float]]], figure: str) -> tuple[float, float]:
    """``(a, b)`` of ``p99 = a + b * RTT`` fitted to one figure's p99s (ms, ms per ms)."""
    by_rtt = figures[figure]
    rtts = sorted(by_rtt)
    return fit([float(r) for r in rtts], [by_rtt[r]["p99"] for r in rtts])


def recommended_ttfs(a_ms: float, b: float, rtt_ms: float, service_ms: float = 0.0) -> float:
    """Recommended ``ttfs_p99_latency`` (seconds) at ``rtt_ms``: the fitted model plus the service's time."""
    return (a_ms + b * rtt_ms + service_ms) / 1000


# --------------------------------------------------------------------------- report

_FIGURES = (
    "rotation",
    "server VAD",
    "first result, warm",
    "first result, cold",
    "SDK first result, task open",
    "SDK first result, cold",
    "first audio on the wire, warm",
    "first audio on the wire, cold",
    "rotation wait",
)


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    figures = series(result)
    rtts = result["rtts_ms"]
    header = ["figure (ms)", *[f"{rtt} ms RTT p50 / p99" for rtt in rtts], "fit p99 = a + b·RTT"]
    body = []
    fits: dict[str, tuple[float, float]] = {}
    for figure in _FIGURES:
        fits[figure] = a, b = model(figures, figure)
        cells = [f"{fmt(figures[figure][r]['p50'], 0)} / {fmt(figures[figure][r]['p99'], 0)}" for r in rtts]
        body.append([figure, *cells, f"{fmt(a, 0)} + {fmt(b, 2)}·RTT"])
    billing = [_billing(result[str(r)]) for r in rtts]
    body.append(["rotation: extra billed s per rotation (vs one task)", *[fmt(extra, 2) for extra, _ in billing], "—"])
    a, b = fits["rotation"]
    ttfs = {rtt: recommended_ttfs(a, b, rtt) for rtt in (30, 80, 150, 300)}
    plot = plots.lines(
        plot_dir / "network.png",
        "p99 against round-trip time (through the latency proxy)",
        "round trip ms",
        "ms",
        {
            **{f: ([float(r) for r in rtts], [figures[f][r]["p99"] for r in rtts]) for f in _FIGURES[:4]},
            f"model {fmt(a, 0)} + {fmt(b, 2)}·RTT": ([0.0, 150.0], [a, a + b * 150]),
        },
        logy=True,
    )
    samples = ", ".join(f"{figure} n={figures[figure][rtts[-1]]['count']}" for figure in _FIGURES)
    text = [
        intro(__doc__),
        "",
        f"Samples per round trip: {samples}. Failed workers: {_failures(result) or 'none'}.",
        "",
        table(header, body),
        "",
        f"**Recommended `ttfs_p99_latency` for the Pipecat adapter (a model, not a measurement of the service).** "
        f"Fitted to the p99 of end of speech → final by rotation above: **ttfs_p99 ≈ {fmt(a, 0)} ms + "
        f"{fmt(b, 2)} · RTT + the service's own finalize time**, which this benchmark does not measure (the "
        "engine here is local). The intercept is this machine's decode of the last hypothesis plus the client; "
        "the slope is the round trips a finalize waits for (the last audio and finish-task up, the final down). "
        f"Without the service's time that is {', '.join(f'{fmt(s, 2)} s at {r} ms' for r, s in ttfs.items())}; "
        "add the service's p99 finalize time, measured from your region, before passing the sum.",
        "",
        _first_result_text(figures, rtts),
        "",
        "The rotation rows are the worst case, speech resuming at the moment of the finalize: the first audio of "
        "the new task waits the *rotation wait* (the standby connection is ready, so ≈ one round trip for "
        "run-task → task-started, or longer while the server is still decoding the previous task's last "
        "hypothesis: see the 0 ms column), then goes out at once. A pipeline that keeps streaming silence after the "
        "finalize opens the new task on that silence (later audio starts the task), so the wait falls on "
        "silence. Against one long task a rotation also costs billing: each task is billed in whole seconds "
        "(the last row, same audio both ways).",
        "",
        f"![network](bench/{plot.name})",
    ]
    return "\n".join(text), _rows(figures, fits, rtts, ttfs)


def _first_result_text(figures: dict[str, Any], rtts: list[int]) -> str:
    at = rtts[-1]
    wire = {m: figures[f"first audio on the wire, {m}"][at]["p50"] for m in ("warm", "cold")}
    first = {m: figures[f"first result, {m}"][at]["p50"] for m in ("warm", "cold")}
    return (
        f"At {at} ms round trip a cold start's first audio waits {fmt(wire['cold'], 0)} ms for its task against "
        f"{fmt(wire['warm'], 0)} ms pre-warmed (p50), yet the first text differs by only "
        f"{fmt(first['cold'] - first['warm'], 0)} ms: the engine has no text before a few hundred milliseconds of "
        "speech, and the audio buffered meanwhile goes out at once when the task starts (the engine decodes "
        "faster than real time). Over the internet a cold start also pays the TCP and TLS handshakes (not "
        "simulated here), so a connect longer than the speech onset shows up in the first result: pre-warm."
    )


def _failures(result: dict[str, Any]) -> str:
    failed = []
    for rtt in result["rtts_ms"]:
        for key, run in result[str(rtt)].items():
            if not run.get("ok"):
                failed.append(f"{key} at {rtt} ms: {run.get('error', '')[:120]}")
    return "; ".join(failed)


def _rows(
    figures: dict[str, Any], fits: dict[str, tuple[float, float]], rtts: list[int], ttfs: dict[int, float]
) -> list[Row]:
    at = 80 if 80 in rtts else rtts[-1]
    rot, vad = figures["rotation"][at], figures["server VAD"][at]
    warm, sdk = figures["first result, warm"][at], figures["SDK first result, cold"][at]
    a, b = fits["rotation"]
    return [
        Row(
            "10",
            f"end of speech → final at {at} ms RTT, p50 (p99)",
            f"rotation {fmt(rot['p50'], 0)} ({fmt(rot['p99'], 0)}) ms",
            f"server VAD {fmt(vad['p50'], 0)} ({fmt(vad['p99'], 0)}) ms",
            fmt_ratio(vad["p50"] / rot["p50"]) if rot["count"] and vad["count"] else "—",
        ),
        Row(
            "10",
            f"first send → first result at {at} ms RTT, p50: pre-warmed vs SDK cold",
            f"{fmt(warm['p50'], 0)} ms",
            f"SDK {fmt(sdk['p50'], 0)} ms",
            fmt_ratio(sdk["p50"] / warm["p50"]) if warm["count"] and sdk["count"] else "—",
        ),
        Row(
            "10",
            "model: Pipecat ttfs_p99 ≈ a + b·RTT + service time (not measured)",
            f"{fmt(a, 0)} ms + {fmt(b, 2)}·RTT ({fmt(ttfs[80], 2)} s at 80 ms)",
        ),
    ]
