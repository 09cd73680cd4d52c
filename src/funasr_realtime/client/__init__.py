"""The asyncio client: the only layer that awaits the network."""

from .client import Client
from .config import ClientConfig, KeyProvider, Resilience, Timeouts
from .connection import Connection, Task, TaskMetrics
from .events import Reconnected, SentenceEvent, StreamEvent, TaskCompleted
from .stream import RecognitionStream
from .tokens import TemporaryKey, mint_temporary_key
from .transport import Transport, TransportFactory
from .vocabularies import Vocabularies, Vocabulary, VocabularyEntry

__all__ = [
    "Client",
    "ClientConfig",
    "Connection",
    "KeyProvider",
    "Reconnected",
    "RecognitionStream",
    "Resilience",
    "SentenceEvent",
    "StreamEvent",
    "Task",
    "TaskCompleted",
    "TaskMetrics",
    "TemporaryKey",
    "Timeouts",
    "Transport",
    "TransportFactory",
    "Vocabularies",
    "Vocabulary",
    "VocabularyEntry",
    "mint_temporary_key",
]
