"""The local server: DashScope's real-time ASR protocol with open-source recognition.

Install with ``pip install "funasr-realtime[server]"`` and run ``funasr-realtime serve``,
or embed it: ``async with LocalServer(ServerConfig(grammar=...)) as server: server.url``.
"""

from .app import LocalServer
from .config import INFERENCE_PATH, ServerConfig

__all__ = ["INFERENCE_PATH", "LocalServer", "ServerConfig"]
