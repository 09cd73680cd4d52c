"""1. Client CPU per real-time stream: this client versus the official SDK 2.0.2.

Each client runs in its own worker process pinned to CPU 0; the server runs in another
process pinned to CPU 1. The worker streams N parallel
streams of fixture speech at real time (100 ms frames, staggered) and reports its own CPU
time (user+sys, every thread) while the audio streams; divided by N x audio seconds it is
the CPU cost per stream-second.

The same worker with its send replaced by a no-op (same tasks or threads, same sleeps, same
frame building) measures the benchmark's own pacing loop; *net* = measured - that floor is
the cost of the client library itself. Both are published; the target is judged on net,
and the raw ratio is printed beside it.

*ours-picows* is the same client on its fast transport (``transport="picows"``, the
``[fast]`` extra), *picows* the same load on bare picows connections: the floor of that
transport, as bare websockets is of the default one.

The server is the stub (:mod:`bench.stub_server`) answering a partial every 300 ms of audio,
the cadence of the synthetic engine (one word per 300 ms): the synthetic engine's own
server saturates its core near 50 real-time streams (Silero VAD per frame, measured in the
concurrency benchmark), and a saturated server would hold results back out of the measured
window. A cross-check at one level runs both clients against the synthetic engine itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import plots
from .common import Context, Row, ServerProcess, cpu_meter, fmt, fmt_ratio, ratio, run_worker, side_by_side, table

NAME = "client_cpu"
TITLE = "1. Client CPU per real-time stream"
TARGET = 10.0  # issue 17: at least 10x less CPU than the SDK, net, at 10 and 100 streams
#: Rows on a bare library (no client, no pacing floor of their own): the transports' floors.
BARE = ("websockets", "picows")


def _has_picows() -> bool:
    try:
        import picows  # noqa: F401
    except ImportError:
        return False
    return True


def _levels(ctx: Context) -> tuple[tuple[int, ...], float, int]:
    """Stream counts, seconds of audio per run, and repetitions of every run."""
    if ctx.quick:
        return (2,), 0.5, 1
    return ((1, 10, 50), 5.0, 2) if ctx.small else ((1, 10, 100), 10.0, 3)


def _measure(
    ctx: Context, server: ServerProcess, step: tuple[str, str, bool], *, streams: int, seconds: float
) -> dict[str, Any]:
    client, function, noop = step
    ctx.log(f"client CPU: {client}{' floor' if noop else ''}, {streams} streams x {seconds:g} s")
    args: dict[str, Any] = {"url": server.url, "streams": streams, "seconds": seconds}
    if client not in BARE:
        args["noop"] = noop
    if function == "ours" and not noop:
        # Named explicitly: $FUNASR_REALTIME_TRANSPORT in the environment must not swap them.
        args["transport"] = "picows" if client == "ours-picows" else "websockets"
    with cpu_meter(server) as load:
        worker = run_worker("drivers", function, args, timeout=3 * seconds + 90, cpus=[0])
    return {
        **worker.data,
        "client": client,
        "noop": noop,
        "streams": streams,
        "ok": worker.ok,
        "error": worker.error,
        "server_utilization": None if noop else load["utilization"],
    }


def run(ctx: Context) -> dict[str, Any]:
    levels, seconds, repeats = _levels(ctx)
    plan = [("ours", "ours", False), ("ours", "ours", True), ("websockets", "websockets_floor", False)]
    if _has_picows():  # the [fast] extra; `make install` installs it
        plan += [("ours-picows", "ours", False), ("picows", "picows_floor", False)]
    plan += [("sdk", "sdk", False), ("sdk", "sdk", True)]
    with ServerProcess.stub("--partial-every", "3", cpus=[1]) as server:
        # Repetitions are interleaved (every client once, then again), so a disturbance of
        # the machine hits one repetition of every client rather than every run of one.
        runs = [
            _measure(ctx, server, step, streams=n, seconds=seconds)
            for _ in range(repeats)
            for n in levels
            for step in plan
        ]
    check_level = 10 if 10 in levels else levels[-1]
    with ServerProcess.funasr("--engine", "synthetic", cpus=[1]) as synthetic:
        check = [_measure(ctx, synthetic, (c, c, False), streams=check_level, seconds=seconds) for c in ("ours", "sdk")]
    return {"seconds": seconds, "levels": list(levels), "repeats": repeats, "runs": runs, "synthetic_check": check}


def per_stream_second(run: dict[str, Any]) -> float:
    """CPU milliseconds per stream-second of audio."""
    if not run.get("ok") or not run.get("audio_s"):
        return float("nan")
    return float(1000 * run["cpu_s"] / (run["streams"] * run["audio_s"]))


def least_cpu(matching: list[dict[str, Any]]) -> dict[str, Any]:
    """Of runs of one kind, the one that cost the least CPU: interference only ever adds CPU time."""
    completed = [r for r in matching if r.get("ok") and r.get("audio_s")]
    if completed:
        return dict(min(completed, key=per_stream_second))
    return dict(matching[0]) if matching else {}


def _find(result: dict[str, Any], client: str, streams: int, noop: bool) -> dict[str, Any]:
    return least_cpu(
        [r for r in result["runs"] if r["client"] == client and r["streams"] == streams and r["noop"] == noop]
    )


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per level: raw, floor and net CPU ms per stream-second for both clients."""
    out = []
    for n in result["levels"]:
        row: dict[str, Any] = {"streams": n}
        for client in ("ours", "sdk"):
            measured = per_stream_second(_find(result, client, n, False))
            floor = per_stream_second(_find(result, client, n, True))
            row[client] = {"raw": measured, "floor": floor, "net": max(measured - floor, 1e-9)}
            row[f"{client}_run"] = _find(result, client, n, False)
        # The floor of every asyncio row is our pacing loop's (the same tasks and sleeps).
        for name in ("websockets", "ours-picows", "picows"):
            measured = per_stream_second(_find(result, name, n, False))
            row[name] = {
                "raw": measured,
                "floor": row["ours"]["floor"],
                "net": max(measured - row["ours"]["floor"], 1e-9),
            }
        row["ours-picows_run"] = _find(result, "ours-picows", n, False)
        row["ratio_net"] = ratio(row["ours"]["net"], row["sdk"]["net"])
        row["ratio_bare"] = ratio(row["websockets"]["net"], row["sdk"]["net"])
        row["ratio_net_picows"] = ratio(row["ours-picows"]["net"], row["sdk"]["net"])
        row["ratio_bare_picows"] = ratio(row["picows"]["net"], row["sdk"]["net"])
        row["ratio_raw"] = ratio(row["ours"]["raw"], row["sdk"]["raw"])
        out.append(row)
    return out


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    rows = figures(result)
    summary = []
    body = []
    for f in rows:
        ours_run, sdk_run = f["ours_run"], f["sdk_run"]
        met = f["ratio_net"] >= TARGET
        body.append(
            [
                f["streams"],
                f"{fmt(f['ours']['raw'], 2)} / {fmt(f['ours']['floor'], 2)} / **{fmt(f['ours']['net'], 2)}**",
                f"{fmt(f['websockets']['raw'], 2)} / **{fmt(f['websockets']['net'], 2)}**",
                f"{fmt(f['sdk']['raw'], 2)} / {fmt(f['sdk']['floor'], 2)} / **{fmt(f['sdk']['net'], 2)}**",
                f"**{fmt_ratio(f['ratio_net'])}** ({fmt_ratio(f['ratio_raw'])})",
                fmt_ratio(f["ratio_bare"]),
                f"{fmt(f['ours-picows']['raw'], 2)} / **{fmt(f['ours-picows']['net'], 2)}**",
                f"**{fmt_ratio(f['ratio_net_picows'])}**",
                f"{fmt(f['picows']['net'], 2)} ({fmt_ratio(f['ratio_bare_picows'])})",
                "met" if met else "**missed**",
                *side_by_side(ours_run, sdk_run),
                fmt(100 * (ours_run.get("server_utilization") or float("nan")), 0, "%"),
            ]
        )
        summary.append(
            Row(
                "1",
                f"client CPU per stream-second, {f['streams']} stream(s), net of the pacing loop "
                f"(bare websockets: {fmt(f['websockets']['net'], 2)} ms, {fmt_ratio(f['ratio_bare'])} under the SDK)",
                f"{fmt(f['ours']['net'], 2)} ms",
                f"SDK {fmt(f['sdk']['net'], 2)} ms",
                f"{fmt_ratio(f['ratio_net'])} (measured {fmt_ratio(f['ratio_raw'])})",
                f"≥ {TARGET:g}x",
                met,
            )
        )
        if f["ours-picows_run"]:
            summary.append(
                Row(
                    "1",
                    f"client CPU per stream-second on the picows transport, {f['streams']} stream(s), net "
                    f"(bare picows: {fmt(f['picows']['net'], 2)} ms, "
                    f"{fmt_ratio(f['ratio_bare_picows'])} under the SDK)",
                    f"{fmt(f['ours-picows']['net'], 2)} ms",
                    f"SDK {fmt(f['sdk']['net'], 2)} ms",
                    fmt_ratio(f["ratio_net_picows"]),
                    f"≥ {TARGET:g}x",
                    f["ratio_net_picows"] >= TARGET,
                )
            )
    xs = [f["streams"] for f in rows]
    plot = plots.lines(
        plot_dir / "client_cpu.png",
        "Client CPU per stream-second of real-time audio",
        "concurrent streams",
        "CPU ms per stream-second",
        {
            "funasr-realtime (net)": (xs, [f["ours"]["net"] for f in rows]),
            "bare websockets, no client (net)": (xs, [f["websockets"]["net"] for f in rows]),
            "funasr-realtime on picows (net)": (xs, [f["ours-picows"]["net"] for f in rows]),
            "bare picows, no client (net)": (xs, [f["picows"]["net"] for f in rows]),
            "dashscope SDK 2.0.2 (net)": (xs, [f["sdk"]["net"] for f in rows]),
            "funasr-realtime (measured)": (xs, [f["ours"]["raw"] for f in rows]),
            "dashscope SDK 2.0.2 (measured)": (xs, [f["sdk"]["raw"] for f in rows]),
            "pacing loop alone (asyncio)": (xs, [f["ours"]["floor"] for f in rows]),
        },
        logx=True,
        logy=True,
    )
    text = [
        f"Each client streams N parallel streams of {result['seconds']:g} s of fixture speech at real time "
        "(100 ms frames, staggered over the frame period) to the stub server (its own process on CPU 1, a "
        "partial every 300 ms per stream: the synthetic engine's cadence; that engine's own server saturates its "
        "core near 50 streams, see section 2, so it serves as a cross-check below); the client's worker process is "
        "pinned to CPU 0 and reports its CPU time (user+sys, all threads) from the first frame due to the last "
        "frame handed in. Every run is repeated "
        f"{result.get('repeats', 1)} time(s), interleaved, and the lowest CPU of each kind is kept (interference "
        "from the rest of the machine only adds CPU). Three figures per client, in ms of CPU per stream-second:",
        "",
        "* *measured*: the worker's CPU time ÷ (N x audio seconds);",
        "* *floor*: the same worker with a no-op send (same asyncio tasks or threads, same sleeps, same frame "
        "building): the benchmark's pacing loop, which an application pays whatever client it uses;",
        "* *net* = measured - floor: what the client itself costs.",
        "",
        "*Bare websockets* is the same load on plain `websockets` connections (run-task, then `ws.send` per frame, "
        "a reader draining results): no client logic at all, the lower bound of any client built on `websockets` "
        "— and its ratio to the SDK is the most any such client could show. Our client runs with its defaults (a "
        "standby connection per stream: two sockets); the SDK opens one socket per `start()`. *Ours on picows* is "
        'the same client with `transport="picows"` (the `[fast]` extra), *bare picows* the bare load on picows.',
        "",
        table(
            [
                "streams",
                "ours measured / floor / net",
                "bare websockets measured / net",
                "SDK measured / floor / net",
                "SDK ÷ ours net (measured)",
                "SDK ÷ bare websockets",
                "ours on picows measured / net",
                "SDK ÷ ours-picows net",
                "bare picows net (SDK ÷)",
                f"target ≥ {TARGET:g}x",
                "send-call lag p99 ms ours / SDK",
                "results ours / SDK",
                "errors ours / SDK",
                "threads ours / SDK",
                "server CPU",
            ],
            body,
        ),
        "",
        f"![client CPU](bench/{plot.name})",
    ]
    check = {r["client"]: r for r in result.get("synthetic_check", [])}
    if check.get("ours", {}).get("ok") and check.get("sdk", {}).get("ok"):
        level = check["ours"]["streams"]
        floors = next((f for f in rows if f["streams"] == level), None)
        if floors is not None:
            ours_net = per_stream_second(check["ours"]) - floors["ours"]["floor"]
            sdk_net = per_stream_second(check["sdk"]) - floors["sdk"]["floor"]
            text += [
                "",
                f"Cross-check against the synthetic engine itself (`serve --engine synthetic`), {level} streams: "
                f"ours {fmt(per_stream_second(check['ours']), 2)} measured / {fmt(ours_net, 2)} net, SDK "
                f"{fmt(per_stream_second(check['sdk']), 2)} / {fmt(sdk_net, 2)} ms per stream-second: "
                f"**{fmt_ratio(ratio(ours_net, sdk_net))}** net; results delivered "
                f"{check['ours'].get('partials', 0) + check['ours'].get('finals', 0)} / "
                f"{check['sdk'].get('partials', 0) + check['sdk'].get('finals', 0)}; that server at "
                f"{fmt(100 * (check['ours'].get('server_utilization') or float('nan')), 0)}% of its core.",
            ]
    failed = [r for r in result["runs"] if not r.get("ok")]
    if failed:
        text += [
            "",
            "Runs that did not complete: " + "; ".join(f"{r['client']} x{r['streams']}: {r['error']}" for r in failed),
        ]
    return "\n".join(text), summary
