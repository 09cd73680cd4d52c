"""funasr-realtime: Alibaba Cloud Fun-ASR real-time speech recognition for Python voice agents."""

from ._version import __version__

__all__ = ["__version__"]
