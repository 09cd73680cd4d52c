"""A latency-injecting proxy in its own process: ``python -m bench.net_proxy URL RTT_MS``.

Runs :class:`funasr_realtime.testing.FaultProxy` in front of the server at ``URL`` with
half of ``RTT_MS`` added in each direction (the proxy delays every chunk by ``latency``
one way, so a round trip costs ``2 * latency``), and prints ``listening on ws://...``
like the servers, so :class:`bench.common.ServerProcess` can start it. Its own process,
so the delayed deliveries (timers on its loop) neither load the client's core nor share
the client's event loop. Ends on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from funasr_realtime.testing import FaultProxy


async def serve(target: str, rtt_ms: float) -> None:
    """Forward to ``target`` with ``rtt_ms`` of round trip until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with FaultProxy(target, latency=rtt_ms / 2000) as proxy:
        print(f"listening on {proxy.url}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], float(sys.argv[2])))
