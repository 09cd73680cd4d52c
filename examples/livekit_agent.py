"""A LiveKit agent worker that transcribes participants with Fun-ASR (no LLM, no TTS needed).

Fun-ASR's sentence ends drive the turns here (``endpointing="server"`` with the session's
``turn_detection="stt"``), so no VAD model is needed; with a VAD and a turn detector, keep
the default ``endpointing="framework"`` instead (see adapters/livekit/README.md).

    export LIVEKIT_URL=wss://your-project.livekit.cloud LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=...
    export DASHSCOPE_API_KEY=sk-...            # or FUNASR_URL=ws://127.0.0.1:PORT/api-ws/v1/inference
    python examples/livekit_agent.py dev       # then join the room from the LiveKit playground

Without a LiveKit server configured it says what to set and exits; without the plugin
installed it says how to install it.
"""

from __future__ import annotations

import logging
import os
import sys

try:
    from livekit.agents import Agent, AgentServer, AgentSession, JobContext, UserInputTranscribedEvent, cli, stt
    from livekit.plugins import funasr_realtime
except ImportError as exc:
    sys.exit(f"livekit_agent.py: error: {exc}; from a checkout: pip install -e . -e adapters/livekit")

logger = logging.getLogger("funasr-agent")
server = AgentServer()


def make_stt() -> funasr_realtime.STT:
    plugin = funasr_realtime.STT(
        url=os.environ.get("FUNASR_URL"),  # None: Alibaba Cloud with $DASHSCOPE_API_KEY
        language=os.environ.get("FUNASR_LANGUAGE"),  # None: auto-detect
        endpointing="server",
        max_sentence_silence=800,
    )
    plugin.on("error", _on_stt_error)
    return plugin


def _on_stt_error(error: stt.STTError) -> None:
    # AgentSession ignores recoverable errors; audio lost to a long outage is one of them,
    # and a transcript with a hole in it should not go unnoticed.
    if isinstance(error.error, funasr_realtime.AudioLost):
        logger.warning("%d ms of the user's audio were not transcribed: %s", error.error.dropped_ms, error.error)


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(stt=make_stt(), turn_handling={"turn_detection": "stt"})

    @session.on("user_input_transcribed")
    def _on_transcript(event: UserInputTranscribedEvent) -> None:
        if event.is_final:
            logger.info("%s said (%s): %s", event.speaker_id or "user", event.language, event.transcript)

    await session.start(agent=Agent(instructions="Transcribe what the user says."), room=ctx.room)


if __name__ == "__main__":
    if not os.environ.get("LIVEKIT_URL"):
        print(
            "No LiveKit server configured: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET,\n"
            "and DASHSCOPE_API_KEY (or FUNASR_URL for a local `funasr-realtime serve`), then run\n"
            "    python examples/livekit_agent.py dev\n"
            "To try the plugin without LiveKit, run examples/livekit_transcribe_wav.py."
        )
        sys.exit(0)
    cli.run_app(server)
