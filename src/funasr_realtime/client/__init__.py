"""The asyncio client: the only layer that awaits the network."""

from .client import Client
from .config import ClientConfig, Resilience, Timeouts
from .connection import Connection, Task, TaskMetrics
from .events import Reconnected, SentenceEvent, StreamEvent, TaskCompleted
from .stream import RecognitionStream
from .transport import Transport, TransportFactory

__all__ = [
    "Client",
    "ClientConfig",
    "Connection",
    "Reconnected",
    "RecognitionStream",
    "Resilience",
    "SentenceEvent",
    "StreamEvent",
    "Task",
    "TaskCompleted",
    "TaskMetrics",
    "Timeouts",
    "Transport",
    "TransportFactory",
]
