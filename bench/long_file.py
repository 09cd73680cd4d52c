"""9. A 30-minute recording at full speed.

One WAV of about 30 minutes (the long fixture again and again, 1.5 s of silence between the
copies) is transcribed on the local server with its default engine (pocketsphinx, general
English LM), three ways, one after another on the same server process pinned to CPU 1:

* **engine alone**: the server's own recognition stack (``Transcriber``) fed the recording
  as fast as it can take it, in a worker on CPU 1: the floor any client can reach;
* **ours**: ``RecognitionStream`` sending the file as fast as it can (the stream paces
  itself to the server's reported position), in a worker on CPU 0;
* **SDK**: the official ``dashscope`` SDK's ``Recognition.call(file)`` (which sends the
  whole file back-to-back), in a worker on CPU 0.

Wall time is from the first byte sent to the last final; "words" counts the words of the
final sentences, "reference" the words spoken. *Added over the engine* is
``wall / engine alone - 1``: what the client, the protocol and the server's own plumbing
add together to the engine's decode time (target: under 5 %).

Peak RSS: each worker's ``ru_maxrss`` (the whole process: interpreter, imports and the
recording, which ours and the engine hold in memory, 32 kB per second), and its growth
during the transcription (peak minus the RSS just before it started). The server's RSS
(with any child process) is sampled every 0.1 s while each client runs.
"""

from __future__ import annotations

import contextlib
import resource
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from .common import Context, Row, ServerProcess, fmt, intro, rss_bytes, run_worker, table

NAME = "long-file"
TITLE = "9. A 30-minute recording at full speed"
TARGET_ADDED = 0.05  # the client adds under 5 % to the engine's own decode time
MB = 2**20


def _peak_mb() -> float:
    """Peak RSS of this process so far, MB (``ru_maxrss`` is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory(before: int) -> dict[str, float]:
    """This worker's peak RSS and its growth since ``before`` (bytes), MB."""
    return {"peak_rss_mb": _peak_mb(), "rss_growth_mb": _peak_mb() - before / MB}


@contextlib.contextmanager
def _sampled_rss(pid: int, every: float = 0.1) -> Iterator[dict[str, float]]:
    """Sample a process's RSS (with its children) in a thread over a block: its peak and start, MB."""
    process = psutil.Process(pid)
    out = {"start_rss_mb": 0.0, "peak_rss_mb": 0.0}
    done = threading.Event()

    def rss() -> float:
        total = 0
        with contextlib.suppress(psutil.Error):
            total = process.memory_info().rss
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        return total / MB

    def sample() -> None:
        while not done.wait(every):
            out["peak_rss_mb"] = max(out["peak_rss_mb"], rss())

    out["start_rss_mb"] = out["peak_rss_mb"] = rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield out
    finally:
        done.set()
        sampler.join()
        out["peak_rss_mb"] = max(out["peak_rss_mb"], rss())


def _recording(minutes: float) -> tuple[Path, int, int]:
    """Write the recording; its path, duration (ms) and number of reference words.

    ``minutes=0`` (the smoke run) writes the 20 s fixture once.
    """
    from tests.conftest import load_speech, minute_of_speech

    if minutes:
        pcm, sentences = minute_of_speech()  # 65 s
        copies = max(1, round(minutes * 60 / 65))
    else:
        long = load_speech("long")
        pcm, sentences, copies = long.pcm, list(long.texts), 1
    path = Path(tempfile.mkdtemp(prefix="funasr-long-")) / "recording.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        for _ in range(copies):
            out.writeframes(pcm)
    words = sum(len(s.split()) for s in sentences) * copies
    return path, len(pcm) * copies * 1000 // 32000, words


def engine_worker(path: str) -> dict[str, Any]:
    from funasr_realtime.server.engines import create_engine
    from funasr_realtime.server.transcriber import Transcriber

    with wave.open(path) as w:
        pcm = w.readframes(w.getnframes())
    transcriber = Transcriber(create_engine("pocketsphinx"))
    before = rss_bytes()
    started = time.perf_counter()
    finals = []
    for i in range(0, len(pcm), 3200):
        finals += [h.text for h in transcriber.feed(pcm[i : i + 3200]) if h.final]
    finals += [h.text for h in transcriber.finish() if h.final]
    wall = time.perf_counter() - started
    transcriber.close()
    return {"wall_s": wall, "finals": len(finals), "words": len(" ".join(finals).split()), **_memory(before)}


async def ours_worker(url: str, path: str) -> dict[str, Any]:
    from tests.feeding import feed_and_collect

    import funasr_realtime as fr

    with wave.open(path) as w:
        pcm = w.readframes(w.getnframes())
    before = rss_bytes()
    started = time.perf_counter()
    async with fr.Client(url=url).stream(sample_rate=16000) as stream:
        collected = await feed_and_collect(stream, pcm)
    finals, reconnects = collected.finals, len(collected.reconnects)
    dropped = sum(event.dropped_ms for event in collected.reconnects)
    wall = time.perf_counter() - started
    words = len(" ".join(finals).split())
    out = {"wall_s": wall, "finals": len(finals), "words": words, "reconnects": reconnects, "dropped_ms": dropped}
    return {**out, **_memory(before)}


def sdk_worker(url: str, path: str) -> dict[str, Any]:
    import dashscope
    from dashscope.audio.asr import Recognition

    dashscope.base_websocket_api_url = url
    dashscope.api_key = "local"
    recognition = Recognition(model="fun-asr-realtime", format="wav", sample_rate=16000, callback=None)
    before = rss_bytes()
    started = time.perf_counter()
    result = recognition.call(path)
    wall = time.perf_counter() - started
    sentences = result.get_sentence() or []
    texts = [s["text"] for s in sentences if s.get("end_time") is not None]
    return {
        "wall_s": wall,
        "status": result.status_code,
        "message": str(result.message)[:200],
        "finals": len(texts),
        "words": len(" ".join(texts).split()),
        **_memory(before),
    }


def run(ctx: Context) -> dict[str, Any]:
    minutes = 0 if ctx.quick else (5 if ctx.small else 30)
    path, audio_ms, reference = _recording(minutes)
    timeout = 120 + audio_ms / 1000  # a whole real-time pass, at worst
    out: dict[str, Any] = {"audio_s": audio_ms / 1000, "reference_words": reference}
    ctx.log(f"long file: {audio_ms / 60000:.1f} min, engine alone")
    engine = run_worker(NAME.replace("-", "_"), "engine_worker", {"path": str(path)}, timeout=timeout, cpus=[1])
    out["engine"] = {"ok": engine.ok, "error": engine.error, **engine.data}
    with ServerProcess.funasr("--port", "0", cpus=[1]) as server:
        for side, function in (("ours", "ours_worker"), ("sdk", "sdk_worker")):
            ctx.log(f"long file: {side}")
            args = {"url": server.url, "path": str(path)}
            with _sampled_rss(server.pid) as server_rss:
                worker = run_worker(NAME.replace("-", "_"), function, args, timeout=timeout, cpus=[0])
            out[side] = {"ok": worker.ok, "error": worker.error, **worker.data, "server": server_rss}
    path.unlink(missing_ok=True)
    return out


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    engine = result["engine"].get("wall_s")
    body = []
    for label, key in (("engine alone", "engine"), ("ours (RecognitionStream)", "ours"), ("SDK call()", "sdk")):
        side = result[key]
        if not side.get("ok"):
            body.append([label, "failed", side.get("error", "")[:80], "", "", "", "", "", ""])
            continue
        wall = side["wall_s"]
        extra = ""
        if key == "ours":
            extra = f"{side['reconnects']} reconnects, {side['dropped_ms']} ms dropped"
        elif key == "sdk":
            extra = f"status {side['status']} {side['message'][:40]}"
        server = side.get("server")
        body.append(
            [
                label,
                fmt(wall, 1),
                fmt(wall / engine, 2) + "x" if engine else "",
                f"{(wall / engine - 1) * 100:+.1f} %" if engine and key != "engine" else "—",
                side["finals"],
                f"{side['words']}/{result['reference_words']}",
                _rss(side),
                f"{fmt(server['peak_rss_mb'], 0)} (from {fmt(server['start_rss_mb'], 0)})" if server else "—",
                extra,
            ]
        )
    text = [
        intro(__doc__),
        "",
        f"Recording: {fmt(result['audio_s'] / 60, 1)} min, {result['reference_words']} words spoken.",
        "",
        table(
            [
                "transcriber",
                "wall s",
                "vs engine",
                "added over the engine",
                "finals",
                "words",
                "worker peak RSS MB (growth)",
                "server peak RSS MB",
                "notes",
            ],
            body,
        ),
    ]
    return "\n".join(text), _rows(result, engine)


def _rss(side: dict[str, Any]) -> str:
    if side.get("peak_rss_mb") is None:
        return "—"
    return f"{fmt(side['peak_rss_mb'], 0)} (+{fmt(side['rss_growth_mb'], 1)})"


def _rows(result: dict[str, Any], engine: float | None) -> list[Row]:
    ours, sdk = result["ours"], result["sdk"]
    rows: list[Row] = []
    if not (ours.get("ok") and engine):
        return rows
    comparison = f"SDK {fmt(sdk['wall_s'], 1)} s" if sdk.get("ok") else "SDK failed"
    ratio = fmt(sdk["wall_s"] / ours["wall_s"], 2) + "x" if sdk.get("ok") else "—"
    figure = f"{fmt(ours['wall_s'], 1)} s ({fmt(ours['wall_s'] / engine, 2)}x the engine's {fmt(engine, 1)} s)"
    minutes = f"{result['audio_s'] / 60:.0f}-minute file"
    rows.append(Row("9", f"{minutes} at full speed, wall time", figure, comparison, ratio))
    added = ours["wall_s"] / engine - 1
    sdk_added = f"SDK {(sdk['wall_s'] / engine - 1) * 100:+.1f} %" if sdk.get("ok") else "SDK failed"
    target = f"< {TARGET_ADDED * 100:g} %"
    rows.append(Row("9", f"{minutes}: time added over the engine's own decode", f"{added * 100:+.1f} %",
                    sdk_added, target=target, met=added < TARGET_ADDED))  # fmt: skip
    if ours.get("peak_rss_mb") is not None and sdk.get("peak_rss_mb") is not None:
        server = ours.get("server", {})
        rows.append(
            Row(
                "9",
                f"{minutes}: peak RSS, client process (server)",
                f"{fmt(ours['peak_rss_mb'], 0)} MB ({fmt(server.get('peak_rss_mb'), 0)} MB)",
                f"SDK {fmt(sdk['peak_rss_mb'], 0)} MB ({fmt(sdk.get('server', {}).get('peak_rss_mb'), 0)} MB)",
                fmt(sdk["peak_rss_mb"] / ours["peak_rss_mb"], 2) + "x",
            )
        )
    return rows
