import logging

logger = logging.getLogger("livekit.plugins.funasr_realtime")
