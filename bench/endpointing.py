"""5. End of speech to final transcript: finalize by task rotation versus the server's VAD.

The local server runs the real engine (pocketsphinx with the fixture grammar, Silero VAD,
``max_sentence_silence`` at the service default 1300 ms) in its own process. Each fixture
sentence, its trailing silence trimmed (10 ms windows below a peak of 300), is streamed at
real time through a pre-warmed stream; *end of speech* is the moment its last frame was
handed in. Then:

* **rotation**: ``finalize()`` at once (what the adapters do on the framework's VAD stop);
* **server VAD**: silence keeps streaming at real time until the server's own final comes.

Measured: end of speech → the final ``SentenceEvent`` reaching the application.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from . import plots
from .common import FRAME_BYTES, FRAME_S, Context, Row, ServerProcess, fmt, fmt_ratio, intro, run_worker, summary, table

NAME = "endpointing"
TITLE = "5. End of speech to final transcript"
TARGET = 3.0
SENTENCES = ("s1", "s2", "s3", "s4", "s5", "s6")


async def worker(url: str, names: list[str], repeats: int, modes: list[str]) -> dict[str, Any]:
    from tests.conftest import chunks, load_speech

    import funasr_realtime as fr

    from .common import trailing_silence_ms
    from .drivers import speech_frames

    speech_frames()
    client = fr.Client(url=url)
    out: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    silence = bytes(FRAME_BYTES)
    for _ in range(repeats):
        for name in names:
            speech = load_speech(name)
            keep = len(speech.pcm) - trailing_silence_ms(speech.pcm) * 32
            pcm = speech.pcm[: keep + (-keep % 320)]  # whole 10 ms
            for mode in modes:
                stream = client.stream()
                await stream.connect()
                final = asyncio.get_running_loop().create_future()

                async def read(stream: fr.RecognitionStream = stream, final: asyncio.Future[Any] = final) -> None:
                    async for event in stream:
                        if isinstance(event, fr.SentenceEvent) and event.is_final and not final.done():
                            final.set_result((time.monotonic(), event.sentence.text))

                reader = asyncio.create_task(read())
                loop = asyncio.get_running_loop()
                start = loop.time()
                n = 0
                for n, chunk in enumerate(chunks(pcm, FRAME_BYTES)):
                    await asyncio.sleep(max(0.0, start + n * FRAME_S - loop.time()))
                    await stream.send_audio(chunk)
                end_of_speech = time.monotonic()
                if mode == "rotation":
                    await stream.finalize()
                else:
                    while not final.done() and time.monotonic() - end_of_speech < 6.0:
                        n += 1
                        delay = start + n * FRAME_S - loop.time()
                        if delay > 0:
                            await asyncio.wait([final], timeout=delay)
                        if not final.done():
                            await stream.send_audio(silence)
                try:
                    at, text = await asyncio.wait_for(asyncio.shield(final), 6.0)
                    out[mode].append(
                        {"sentence": name, "ms": (at - end_of_speech) * 1000, "exact": text == speech.text}
                    )
                except TimeoutError:
                    out[mode].append({"sentence": name, "ms": None, "exact": False})
                await stream.aclose()
                reader.cancel()
    return out


def run(ctx: Context) -> dict[str, Any]:
    from tests.conftest import GRAMMAR

    names, repeats = (["s1"], 1) if ctx.quick else (list(SENTENCES), 1 if ctx.small else 3)
    with ServerProcess.funasr("--grammar", str(GRAMMAR), cpus=[1]) as server:
        ctx.log(f"endpointing: {len(names)} sentences x {repeats}, rotation and server VAD")
        args = {"url": server.url, "names": names, "repeats": repeats, "modes": ["rotation", "server"]}
        worker_run = run_worker("endpointing", "worker", args, timeout=60 + 12 * len(names) * repeats, cpus=[0])
    return {"ok": worker_run.ok, "error": worker_run.error, "repeats": repeats, **worker_run.data}


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    rotation = [s["ms"] for s in result.get("rotation", []) if s["ms"] is not None]
    server = [s["ms"] for s in result.get("server", []) if s["ms"] is not None]
    r, s = summary(rotation), summary(server)
    ratio_p50 = s["p50"] / r["p50"] if r["count"] and s["count"] else float("nan")
    ratio_p90 = s["p90"] / r["p90"] if r["count"] and s["count"] else float("nan")
    missing = sum(1 for mode in ("rotation", "server") for x in result.get(mode, []) if x["ms"] is None)
    exact = sum(1 for mode in ("rotation", "server") for x in result.get(mode, []) if x["exact"])
    total = sum(len(result.get(mode, [])) for mode in ("rotation", "server"))
    plot = plots.distributions(
        plot_dir / "endpointing.png",
        "End of speech → final transcript",
        "ms",
        {"finalize (task rotation)": rotation, "server VAD (1300 ms)": server},
    )
    body = [
        [
            "finalize by task rotation",
            r["count"],
            fmt(r["p50"], 0),
            fmt(r["p90"], 0),
            fmt(r["max"], 0),
            fmt(r["mean"], 0),
        ],
        [
            "server VAD, max_sentence_silence 1300",
            s["count"],
            fmt(s["p50"], 0),
            fmt(s["p90"], 0),
            fmt(s["max"], 0),
            fmt(s["mean"], 0),
        ],
    ]
    text = [
        intro(__doc__),
        "",
        f"Six fixture sentences x {result.get('repeats', '?')}; {exact}/{total} finals exact, {missing} missing.",
        "",
        table(["finalization", "n", "p50 ms", "p90 ms", "max ms", "mean ms"], body),
        "",
        f"Rotation is **{fmt_ratio(ratio_p50)} faster at p50** ({fmt_ratio(ratio_p90)} at p90). What remains after "
        "a finalize is the engine decoding the final hypothesis on the server (pocketsphinx: tens of milliseconds to "
        "~0.2 s per sentence) plus one round trip; the client's share is under a millisecond (section 4).",
        "",
        f"![endpointing](bench/{plot.name})",
    ]
    if not result.get("ok"):
        text += ["", f"Run failed: {result.get('error')}"]
    summary_rows = [
        Row(
            "5",
            "end of speech → final, p50 (p90)",
            f"rotation {fmt(r['p50'], 0)} ({fmt(r['p90'], 0)}) ms",
            f"server VAD {fmt(s['p50'], 0)} ({fmt(s['p90'], 0)}) ms",
            fmt_ratio(ratio_p50),
            f"≥ {TARGET:g}x",
            ratio_p50 >= TARGET,
        )
    ]
    return "\n".join(text), summary_rows
