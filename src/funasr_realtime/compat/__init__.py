"""A drop-in replacement for the DashScope SDK's real-time recognition API.

Programs written for ``dashscope.audio.asr.Recognition`` switch by changing imports::

    import funasr_realtime.compat as dashscope          # was: import dashscope
    from funasr_realtime.compat import *                # was: from dashscope.audio.asr import *

    dashscope.api_key = "sk-..."                        # or $DASHSCOPE_API_KEY
    dashscope.base_websocket_api_url = "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"

``api_key``, ``api_key_file_path``, ``base_websocket_api_url`` and ``base_http_api_url``
are read each time a task starts (``set_region(region, workspace_id)`` sets the URLs); when
they are None, the SDK's environment variables apply, and the endpoint defaults to the
SDK's (Beijing). Signatures and semantics follow the SDK
(docs/PROTOCOL.md §4, §6). What behaves better:

* **Threads.** All network I/O runs on one shared background event loop (daemon thread
  ``funasr-realtime-compat-loop``, started on first use). Each task's callbacks run on one
  thread named ``funasr-realtime-callbacks``, in order, never two at once; a slow callback
  delays later callbacks, never the network. Nothing polls: threads wait on queues/events.
* **Results as they arrive**, also while the application is not sending audio.
* **``on_open`` means ready:** ``start()`` returns once the task started and ``on_open``
  returned; a failure to start arrives as ``on_error`` + ``on_close`` instead.
* **Exactly once:** per task, one of ``on_complete`` / ``on_error``, then ``on_close``
  once. Errors carry the server's code and message, or the close code and reason
  (:mod:`funasr_realtime.compat.errors` has the status mapping; ``code`` is always a str).
* **Bounded waits:** connect, task start, each send and ``stop()`` (``timeout=``, default
  10 s) are bounded; a stuck server becomes a 504 ``Timeout`` error, not a hang.
* **A new task id per task** (``get_last_request_id()``); the SDK reuses one per object.
* **Backpressure:** ``send_audio_frame`` queues the frame for the network thread and returns
  at once (no round trip to it per frame), but waits while more than 64 kB are queued
  (a backed-up socket) instead of filling an unbounded queue; ``call()`` waits for the
  socket to take each frame, and checks the file against ``format`` / ``sample_rate``
  before connecting.
* **Defined delays:** the delay getters return -1.0 (:data:`NOT_MEASURED`) when nothing was
  measured, never garbage.

Results are dicts with attribute access, as the SDK's: ``result["status_code"]``,
``json.dumps(result)``, ``result.output.sentence``. Every name ``dashscope.audio.asr``
exports exists here (also as ``dashscope.audio.asr.<name>``); those compat does not
implement (file ``Transcription``, ``AsrPhraseManager``, the Gummy ``Translation*`` classes)
raise :class:`NotProvidedError` when used, never at import. ``VocabularyService`` manages
hot-word vocabularies (:mod:`funasr_realtime.compat.vocabulary`).

Not reproduced: the SDK's 23 s client-side silence timer (the service reports a silent
client itself, as ``CLIENT_ERROR`` through ``on_error``).
"""

from __future__ import annotations

from ..audio.probe import InputDataRequired
from ..client.config import KeyProvider
from ._dispatch import CALLBACK_THREAD_NAME as CALLBACK_THREAD_NAME
from ._loop import LOOP_THREAD_NAME as LOOP_THREAD_NAME
from ._options import region_url
from ._unsupported import (
    AsrPhraseManager,
    Transcription,
    TranscriptionResult,
    Translation,
    TranslationRecognizerCallback,
    TranslationRecognizerChat,
    TranslationRecognizerRealtime,
    TranslationRecognizerResultPack,
    TranslationResult,
)
from ._unsupported import NotProvidedError as NotProvidedError
from .errors import InvalidParameter
from .recognition import NOT_MEASURED as NOT_MEASURED
from .recognition import Recognition
from .result import RecognitionCallback, RecognitionResult
from .vocabulary import VocabularyService, VocabularyServiceException

#: The API key, or a key provider (a function, sync or async, asked on every connect);
#: None means ``$DASHSCOPE_API_KEY``, else the key file. Read when a task starts.
api_key: str | KeyProvider | None = None
#: The key file; None means ``$DASHSCOPE_API_KEY_FILE_PATH``, else ``~/.dashscope/api_key``.
api_key_file_path: str | None = None
#: The WebSocket endpoint; None means ``$DASHSCOPE_WEBSOCKET_BASE_URL``, else the SDK's default.
base_websocket_api_url: str | None = None
#: The HTTP API base (``.../api/v1``); None means ``$DASHSCOPE_HTTP_BASE_URL``, else derived
#: from the WebSocket endpoint.
base_http_api_url: str | None = None


def set_region(region: str, workspace_id: str | None = None) -> None:
    """Point ``base_websocket_api_url`` and ``base_http_api_url`` at a workspace's MaaS host, as the SDK does.

    ``region`` is ``"ap-southeast-1"`` (Singapore) or ``"cn-beijing"``, the SDK's regions that
    serve Fun-ASR real-time; ``workspace_id`` is required. Raises ValueError otherwise.
    """
    global base_websocket_api_url, base_http_api_url  # the SDK's module settings
    base_websocket_api_url, base_http_api_url = region_url(region, workspace_id or "")


# What ``from funasr_realtime.compat import *`` brings: every name ``from dashscope.audio.asr
# import *`` brings (those compat does not implement are stubs that raise NotProvidedError when
# used), plus the SDK's two exceptions of this API. The constants above (thread names,
# NOT_MEASURED) and NotProvidedError are importable by name but not star-exported.
__all__ = [
    "AsrPhraseManager",
    "InputDataRequired",
    "InvalidParameter",
    "Recognition",
    "RecognitionCallback",
    "RecognitionResult",
    "Transcription",
    "TranscriptionResult",
    "Translation",
    "TranslationRecognizerCallback",
    "TranslationRecognizerChat",
    "TranslationRecognizerRealtime",
    "TranslationRecognizerResultPack",
    "TranslationResult",
    "VocabularyService",
    "VocabularyServiceException",
]

# ``dashscope.audio.asr.Recognition`` after ``import funasr_realtime.compat as dashscope``.
from . import audio as audio  # noqa: E402  (last: it re-exports the names above)
