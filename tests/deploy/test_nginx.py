"""Two `funasr-realtime serve` instances behind nginx, configured by deploy/nginx/funasr-realtime.conf.

nginx spreads sessions over both instances; when the instance a stream is on is killed
mid-sentence (SIGKILL), the stream's next handshake goes through nginx to the other one, and
its replay buffer re-sends the audio no final covered yet: the transcript is whole.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import funasr_realtime as fr
from tests.conftest import GRAMMAR, Speech, chunks, load_speech
from tests.deploy.nginx import TEMPLATE, Instance, Nginx, find_nginx, instances, render, running_nginx
from tests.timing import scaled

NGINX = find_nginx()
needs_nginx = pytest.mark.skipif(
    NGINX is None,
    reason="nginx not found; make install installs Debian's nginx where apt-get and root or passwordless sudo exist",
)
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "SELF_HOSTING.md"
#: No standby socket: a stream holds exactly one connection, so the instance it is on is the
#: one with a session open, and its reconnect is a new handshake through nginx.
RESILIENCE = fr.Resilience(backoff_initial=0.05, backoff_max=0.5, standby=False)
KILL_AT_MS = 6000  # mid-way through the second sentence of the long recording
PACE = 0.25  # seconds of wall time per second of audio


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Instance]]:
    with instances(2, tmp_path / "servers", "--grammar", str(GRAMMAR)) as started:
        yield started


@pytest.fixture
def nginx(servers: list[Instance], tmp_path: Path) -> Iterator[Nginx]:
    assert NGINX is not None
    with running_nginx(NGINX, tmp_path / "nginx", [server.address for server in servers]) as proxy:
        yield proxy
    assert proxy.process.returncode is not None, "nginx is stopped"


@needs_nginx
async def test_sessions_spread_over_both_instances(servers: list[Instance], nginx: Nginx) -> None:
    client = fr.Client(url=nginx.url, resilience=RESILIENCE)
    speeches = [load_speech(name) for name in ("s1", "s2", "s3", "s4")]
    streams = [client.stream() for _ in speeches]
    try:
        for stream in streams:
            await stream.connect()
        assert [server.sessions() for server in servers] == [2, 2], "least_conn: each to the one with fewer"
        texts = await _transcribe_together(streams, speeches)
    finally:
        for stream in streams:
            await stream.aclose()
    assert texts == [speech.text for speech in speeches]
    addresses = sorted(nginx.served_by(4))
    assert addresses == sorted(2 * [server.address for server in servers])


@needs_nginx
async def test_a_killed_instance_loses_no_audio(servers: list[Instance], nginx: Nginx) -> None:
    client = fr.Client(url=nginx.url, resilience=RESILIENCE)
    speech = load_speech("long")
    stream = client.stream(max_sentence_silence=600)
    finals: list[str] = []
    reconnects: list[fr.Reconnected] = []
    try:
        await stream.connect()
        reader = asyncio.create_task(_collect(stream, finals, reconnects))
        killed = await _feed_and_kill(stream, speech.pcm, servers)
        await stream.finish()
        await asyncio.wait_for(reader, scaled(30))
    finally:
        await stream.aclose()
    assert killed.process.returncode == -signal.SIGKILL
    assert finals == list(speech.texts), "every sentence, once, in order"
    assert reconnects, "the kill forced a reconnect"
    assert sum(r.dropped_ms for r in reconnects) == 0, "the replay buffer covered the outage"
    [survivor] = [server for server in servers if server is not killed]
    assert nginx.served_by(2) == [killed.address, survivor.address], "the reconnect went through nginx"

    # New sessions: least_conn sends one to the dead instance (it has no connections), nginx
    # is refused there and hands the handshake to the survivor; neither session sees an error.
    speeches = [load_speech(name) for name in ("s1", "s2")]
    streams = [client.stream() for _ in speeches]
    try:
        for each in streams:
            await each.connect()
        texts = await _transcribe_together(streams, speeches)
    finally:
        for each in streams:
            await each.aclose()
    assert texts == [speech.text for speech in speeches]
    tried = nginx.tried(4)[2:]
    assert [attempts[-1] for attempts in tried] == 2 * [survivor.address]
    assert any(killed.address in attempts for attempts in tried), "nginx tried the dead instance and moved on"


async def _feed_and_kill(stream: fr.RecognitionStream, pcm: bytes, servers: list[Instance]) -> Instance:
    """Send ``pcm`` at ``PACE``; at ``KILL_AT_MS`` of audio, SIGKILL the instance the stream is
    on (the one with a session open). Returns it."""
    killed: Instance | None = None
    start = time.monotonic()
    for n, chunk in enumerate(chunks(pcm)):
        await asyncio.sleep(max(0.0, start + n * 0.1 * PACE - time.monotonic()))
        await stream.send_audio(chunk)
        if (n + 1) * 100 == KILL_AT_MS:
            [killed] = [server for server in servers if server.sessions() == 1]
            killed.kill()
    assert killed is not None
    return killed


def test_the_guide_shows_the_shipped_config() -> None:
    """docs/SELF_HOSTING.md quotes deploy/nginx/funasr-realtime.conf whole, as the tests run it."""
    blocks = re.findall(r"^```nginx fragment\n(.*?)^```$", GUIDE.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert TEMPLATE.read_text() in blocks


def test_render_fills_every_placeholder_or_names_the_missing_one() -> None:
    assert render("listen @LISTEN@;", {"LISTEN": "127.0.0.1:8080"}) == "listen 127.0.0.1:8080;"
    with pytest.raises(KeyError, match="@INSTANCE_2@"):
        render("server @INSTANCE_1@; server @INSTANCE_2@;", {"INSTANCE_1": "127.0.0.1:1"})


async def _transcribe_together(streams: list[fr.RecognitionStream], speeches: list[Speech]) -> list[str]:
    """Each stream transcribes its recording, all at once (bounded); the texts, in order."""
    texts = (_transcribe(stream, speech.pcm) for stream, speech in zip(streams, speeches, strict=True))
    return await asyncio.wait_for(asyncio.gather(*texts), scaled(60))


async def _transcribe(stream: fr.RecognitionStream, pcm: bytes) -> str:
    finals: list[str] = []
    reader = asyncio.create_task(_collect(stream, finals, []))
    for chunk in chunks(pcm):
        await stream.send_audio(chunk)
    await stream.finish()
    await reader
    return " ".join(finals)


async def _collect(stream: fr.RecognitionStream, finals: list[str], reconnects: list[fr.Reconnected]) -> None:
    async for event in stream:
        if isinstance(event, fr.SentenceEvent) and event.is_final:
            finals.append(event.sentence.text)
        elif isinstance(event, fr.Reconnected):
            reconnects.append(event)
