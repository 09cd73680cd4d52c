"""8. The local server: real-time factor, word error rate and real-engine capacity.

**RTF and WER**: the server's own recognition stack (``Transcriber``: Silero VAD segmenting,
pocketsphinx decoding) is fed each fixture recording in 100 ms packets as fast as it can
take them, in a worker pinned to one core; RTF = processing time ÷ audio duration. The
final sentences are compared with the fixture transcripts (case and punctuation ignored):
WER = word edits ÷ reference words. Both with the general English LM and with the
fixture grammar.

**Capacity**: concurrent sessions, each streaming one fixture sentence at real time to the
server; a level passes when every final arrives within 1 s of the end of audio and, with
the grammar, every transcript is exact (``scripts/reliability_report.py``'s ``capacity`` and
``capacity_ramp``, imported, not copied; with the general LM a level needs one final per
session). pocketsphinx holds the GIL, so one server process uses about one core; two
server processes with the sessions split between them show what two cores sustain, and one
``serve --workers 2`` (two worker processes on one port, every session sent to it) what the
server's own worker processes sustain; ``serve`` alone is ``--workers 1``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

from . import plots
from .common import Context, Row, fmt, intro, run_worker, table

NAME = "server"
TITLE = "8. The local server"
FIXTURES = ("s1", "s2", "s3", "s4", "s5", "s6", "long")


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", text.lower()).split()


def rtf_worker(names: list[str], grammar: bool) -> dict[str, Any]:
    from tests.conftest import GRAMMAR, chunks, load_speech
    from tests.words import word_edits

    from funasr_realtime.server.engines import create_engine
    from funasr_realtime.server.transcriber import Transcriber

    engine = create_engine("pocketsphinx", grammar=GRAMMAR if grammar else None)
    warm = Transcriber(engine)  # load the decoder and the VAD model outside the timing
    for chunk in chunks(load_speech("s1").pcm):
        warm.feed(chunk)
    warm.finish()
    warm.close()
    rows = []
    for name in names:
        speech = load_speech(name)
        transcriber = Transcriber(engine)
        started, cpu = time.perf_counter(), time.process_time()
        finals = [h.text for chunk in chunks(speech.pcm) for h in transcriber.feed(chunk) if h.final]
        finals += [h.text for h in transcriber.finish() if h.final]
        elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        transcriber.close()
        reference, hypothesis = _words(speech.text), _words(" ".join(finals))
        rows.append(
            {
                "name": name,
                "audio_s": speech.duration_ms / 1000,
                "wall_s": elapsed,
                "cpu_s": cpu_s,
                "reference_words": len(reference),
                "edits": word_edits(reference, hypothesis),
                "hypothesis": " ".join(hypothesis),
            }
        )
    return {"rows": rows}


async def capacity_worker(grammar: bool, levels: list[int], processes: int, workers: int = 1) -> dict[str, Any]:
    """Sessions at each level (split over ``processes`` servers of ``workers`` processes each) until one fails."""
    from contextlib import ExitStack

    from scripts.reliability_report import _timed_session, capacity, capacity_ramp
    from tests.conftest import GRAMMAR, load_speech
    from tests.server.process import served

    if grammar and processes == 1 and workers == 1 and levels == [1, 2, 4, 8, 12, 16, 24]:
        ramp = await capacity_ramp(grammar=True)  # the reliability report's own ramp
        return {"levels": [{"sessions": n, "passed": ok, "worst_lag_s": lag} for n, ok, lag in ramp]}

    async def complete(url: str, sessions: int) -> tuple[bool, float]:
        """General LM: every session gets a final, each within 1 s of its end of audio."""
        speeches = [load_speech(f"s{i % 6 + 1}") for i in range(sessions)]
        results = await asyncio.gather(*(_timed_session(url, s.pcm) for s in speeches), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            print(f"{sessions} sessions: {failures[0]!r}", file=sys.stderr)  # why the level failed
            return False, float("inf")
        lags = [lag for _, lag in results]  # type: ignore[misc]
        return all(texts for texts, _ in results) and max(lags) < 1.0, max(lags)  # type: ignore[misc]

    check = capacity if grammar else complete
    args = (("--grammar", str(GRAMMAR)) if grammar else ()) + (("--workers", str(workers)) if workers > 1 else ())
    out = []
    with ExitStack() as stack:
        urls = [stack.enter_context(served(*args)) for _ in range(processes)]
        for sessions in levels:
            shares = [sessions // processes + (i < sessions % processes) for i in range(processes)]
            results = await asyncio.gather(*(check(url, n) for url, n in zip(urls, shares, strict=True) if n))
            ok = all(r[0] for r in results)
            out.append({"sessions": sessions, "passed": ok, "worst_lag_s": max(r[1] for r in results)})
            if not ok:
                break
    return {"levels": out}


def run(ctx: Context) -> dict[str, Any]:
    names = ["s1"] if ctx.quick else list(FIXTURES)
    out: dict[str, Any] = {"rtf": {}, "capacity": {}}
    for label, grammar in (("general LM", False), ("grammar", True)):
        ctx.log(f"server: RTF and WER, pocketsphinx {label}")
        worker = run_worker("server", "rtf_worker", {"names": names, "grammar": grammar}, timeout=600, cpus=[0])
        out["rtf"][label] = {"ok": worker.ok, "error": worker.error, **worker.data}
    if ctx.quick:
        plans = [("grammar, 1 process", True, [1], 1, 1)]
    elif ctx.small:
        plans = [
            ("grammar, 1 process", True, [1, 2, 4, 8, 12, 16, 24], 1, 1),
            ("general LM, 1 process", False, [1, 2, 3, 4, 6, 8], 1, 1),
            ("general LM, serve --workers 2", False, [2, 4, 6, 8, 10, 12], 1, 2),
        ]
    else:
        plans = [
            ("grammar, 1 process", True, [1, 2, 4, 8, 12, 16, 24], 1, 1),
            ("grammar, 2 processes", True, [8, 12, 16, 20, 24, 28, 32, 40], 2, 1),
            ("general LM, 1 process", False, [1, 2, 3, 4, 6, 8, 12], 1, 1),
            ("general LM, 2 processes", False, [2, 4, 6, 8, 10, 12, 16], 2, 1),
            ("general LM, serve --workers 2", False, [2, 4, 6, 8, 10, 12, 16], 1, 2),
            ("grammar, serve --workers 2", True, [8, 12, 16, 20, 24, 28, 32, 40], 1, 2),
        ]
    for label, grammar, levels, processes, workers in plans:
        ctx.log(f"server: real-time capacity, {label}")
        args = {"grammar": grammar, "levels": levels, "processes": processes, "workers": workers}
        worker = run_worker("server", "capacity_worker", args, timeout=120 + 15 * len(levels))
        out["capacity"][label] = {"ok": worker.ok, "error": worker.error, **worker.data}
    return out


def _sustained(side: dict[str, Any]) -> int:
    return max((lv["sessions"] for lv in side.get("levels", []) if lv["passed"]), default=0)


def render(result: dict[str, Any], plot_dir: Path) -> tuple[str, list[Row]]:
    body = []
    rows = []
    for label, side in result["rtf"].items():
        entries = side.get("rows", [])
        if not entries:
            body.append([label, side.get("error", "no data"), "", "", "", ""])
            continue
        for entry in entries:
            body.append(
                [
                    label,
                    entry["name"],
                    fmt(entry["audio_s"], 1),
                    fmt(entry["wall_s"] / entry["audio_s"], 3),
                    f"{entry['edits']}/{entry['reference_words']}",
                    entry["hypothesis"][:70],
                ]
            )
        audio = sum(e["audio_s"] for e in entries)
        rtf = sum(e["wall_s"] for e in entries) / audio
        wer = sum(e["edits"] for e in entries) / max(1, sum(e["reference_words"] for e in entries))
        body.append([f"**{label}**", "**all**", fmt(audio, 1), f"**{fmt(rtf, 3)}**", f"**{wer:.1%}**", ""])
        rows.append(
            Row(
                "8",
                f"pocketsphinx ({label}): real-time factor / WER on the fixtures",
                f"RTF {fmt(rtf, 3)}, WER {wer:.1%}",
            )
        )
    capacity_body = []
    series = {}
    for label, side in result["capacity"].items():
        levels = side.get("levels", [])
        for lv in levels:
            capacity_body.append(
                [label, lv["sessions"], "yes" if lv["passed"] else "**no**", fmt(lv["worst_lag_s"], 2)]
            )
        if not side.get("ok"):
            capacity_body.append([label, "—", side.get("error", "failed")[:80], ""])
        series[label] = ([lv["sessions"] for lv in levels], [min(lv["worst_lag_s"], 10.0) for lv in levels])
        rows.append(Row("8", f"real-time real-engine streams sustained ({label})", str(_sustained(side))))
    plot = plots.lines(
        plot_dir / "server_capacity.png",
        "Real-engine capacity: worst final lag after end of audio",
        "concurrent real-time sessions",
        "worst final lag (s)",
        series,
        hline=(1.0, "1 s limit"),
    )
    text = [
        intro(__doc__),
        "",
        table(["engine", "fixture", "audio s", "RTF", "word errors", "hypothesis"], body),
        "",
        table(["configuration", "sessions", "passed", "worst final lag s"], capacity_body),
        "",
        f"![server capacity](bench/{plot.name})",
    ]
    return "\n".join(text), rows
