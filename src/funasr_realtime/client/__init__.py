"""The asyncio client: the only layer that awaits the network."""

from .client import Client
from .config import ClientConfig, Timeouts
from .connection import Connection, Task, TaskMetrics
from .stream import RecognitionStream, SentenceEvent, StreamEvent, TaskCompleted

__all__ = [
    "Client",
    "ClientConfig",
    "Connection",
    "RecognitionStream",
    "SentenceEvent",
    "StreamEvent",
    "Task",
    "TaskCompleted",
    "TaskMetrics",
    "Timeouts",
]
