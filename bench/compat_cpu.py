"""1b. Compat CPU in the SDK's own loop shape: ``funasr_realtime.compat`` versus the SDK.

The program is the SDK's own: per stream, one thread calling ``send_audio_frame`` every
100 ms (then ``time.sleep`` until the next frame is due), results through the callbacks;
``stop()`` at the end. The very same program runs twice, once importing
``dashscope.audio.asr`` and once ``funasr_realtime.compat`` (only the imports change:
:func:`bench.drivers.sdk` with ``compat=True``), each in its own worker process pinned to
CPU 0, against the stub server on CPU 1 (a partial every 300 ms of audio, as in section 1).

The figure is *gross*: the worker's CPU time (user+sys, every thread) while the audio
streams, per stream-second, pacing threads included, since a program written for the SDK
pays them whichever library it imports. The pacing threads alone (the same threads and
sleeps, no library) are measured beside it, and the net figures are printed for reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import plots
from .client_cpu import least_cpu, per_stream_second
from .common import Context, Row, ServerProcess, cpu_meter, fmt, fmt_ratio, ratio, run_worker, side_by_side, table

NAME = "compat_cpu"
TITLE = "1b. Compat CPU in the SDK's loop shape"
TARGET = 3.0
CLIENTS = ("compat", "sdk", "floor")


def _levels(ctx: Context) -> tuple[tuple[int, ...], float, int]:
    """Stream counts, seconds of audio per run, and repetitions of every run."""
    if ctx.quick:
        return (2,), 0.5, 1
    return ((10, 50), 5.0, 2) if ctx.small else ((10, 50, 100), 10.0, 3)


def _measure(ctx: Context, server: ServerProcess, client: str, *, streams: int, seconds: float) -> dict[str, Any]:
    ctx.log(f"compat CPU: {client}, {streams} streams x {seconds:g} s")
    args: dict[str, Any] = {"url": server.url, "streams": streams, "seconds": seconds}
    args |= {"compat": client == "compat", "noop": client == "floor"}
    with cpu_meter(server) as load:
        worker = run_worker("drivers", "sdk", args, timeout=3 * seconds + 90 + streams * 0.2, cpus=[0])
    return {
        **worker.data,
        "client": client,
        "streams": streams,
        "ok": worker.ok,
        "error": worker.error,
        "server_utilization": None if client == "floor" else load["utilization"],
    }


def run(ctx: Context) -> dict[str, Any]:
    levels, seconds, repeats = _levels(ctx)
    with ServerProcess.stub("--partial-every", "3", cpus=[1]) as server:
        # Interleaved repetitions: a disturbance of the machine hits every client once.
        runs = [
            _measure(ctx, server, client, streams=n, seconds=seconds)
            for _ in range(repeats)
            for n in levels
            for client in CLIENTS
        ]
    return {"seconds": seconds, "levels": list(levels), "repeats": repeats, "runs": runs}


def _best(result: dict[str, Any], client: str, streams: int) -> dict[str, Any]:
    return least_cpu([r for r in result["runs"] if r["client"] == client and r["streams"] == streams])


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per level: gross and net CPU ms per stream-second of compat and the SDK, and their ratios."""
    out = []
    for n in result["levels"]:
        runs = {client: _best(result, client, n) for client in CLIENTS}
        gross = {client: per_stream_second(run) for client, run in runs.items()}
        net = {client: max(gross[client] - gross["floor"], 1e-9) for client in ("compat", "sdk")}
        out.append(
            {
                "streams": n,
                "runs": runs,
                "gross": gross,
                "net": net,
                "ratio_gross": ratio(gross["compat"], gross["sdk"]),
                "ratio_net": ratio(net["compat"], net["sdk"]),
            }
        )
    return out


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    rows = figures(result)
    body, summary = [], []
    for f in rows:
        compat, sdk = f["runs"]["compat"], f["runs"]["sdk"]
        met = f["ratio_gross"] >= TARGET
        body.append(
            [
                f["streams"],
                f"**{fmt(f['gross']['compat'], 2)}** / {fmt(f['net']['compat'], 2)}",
                f"**{fmt(f['gross']['sdk'], 2)}** / {fmt(f['net']['sdk'], 2)}",
                fmt(f["gross"]["floor"], 2),
                f"**{fmt_ratio(f['ratio_gross'])}** ({fmt_ratio(f['ratio_net'])})",
                "met" if met else "**missed**",
                *side_by_side(compat, sdk),
            ]
        )
        summary.append(
            Row(
                "1b",
                f"compat CPU per stream-second in the SDK's loop shape (a thread per stream), {f['streams']} "
                "streams, gross",
                f"{fmt(f['gross']['compat'], 2)} ms",
                f"SDK {fmt(f['gross']['sdk'], 2)} ms",
                f"{fmt_ratio(f['ratio_gross'])} (net {fmt_ratio(f['ratio_net'])})",
                f"≥ {TARGET:g}x",
                met,
            )
        )
    xs = [f["streams"] for f in rows]
    plot = plots.lines(
        plot_dir / "compat_cpu.png",
        "CPU per stream-second, the SDK's program on each library",
        "concurrent streams",
        "CPU ms per stream-second (gross)",
        {
            "funasr_realtime.compat": (xs, [f["gross"]["compat"] for f in rows]),
            "dashscope SDK 2.0.2": (xs, [f["gross"]["sdk"] for f in rows]),
            "pacing threads alone": (xs, [f["gross"]["floor"] for f in rows]),
        },
        logx=True,
        logy=True,
    )
    text = [
        f"Each run streams N parallel streams of {result['seconds']:g} s of fixture speech at real time; every run "
        f"is repeated {result.get('repeats', 1)} time(s), interleaved, and the lowest CPU of each kind is kept. "
        "CPU in ms per stream-second, *gross* (the worker's whole CPU time while streaming) / *net* (gross minus "
        "the pacing threads alone).",
        "",
        table(
            [
                "streams",
                "compat gross / net",
                "SDK gross / net",
                "pacing threads alone",
                "SDK ÷ compat gross (net)",
                f"target ≥ {TARGET:g}x",
                "send-call lag p99 ms compat / SDK",
                "results compat / SDK",
                "errors compat / SDK",
                "threads compat / SDK",
            ],
            body,
        ),
        "",
        f"![compat CPU](bench/{plot.name})",
    ]
    failed = [r for r in result["runs"] if not r.get("ok")]
    if failed:
        text += [
            "",
            "Runs that did not complete: " + "; ".join(f"{r['client']} x{r['streams']}: {r['error']}" for r in failed),
        ]
    return "\n".join(text), summary
