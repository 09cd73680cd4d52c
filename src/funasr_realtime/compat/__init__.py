"""A drop-in replacement for the DashScope SDK's real-time recognition API.

Programs written for ``dashscope.audio.asr.Recognition`` switch by changing imports::

    import funasr_realtime.compat as dashscope          # was: import dashscope
    from funasr_realtime.compat import *                # was: from dashscope.audio.asr import *

    dashscope.api_key = "sk-..."                        # or $DASHSCOPE_API_KEY
    dashscope.base_websocket_api_url = "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference"

``api_key`` and ``base_websocket_api_url`` are read each time a task starts; when they are
None, ``$DASHSCOPE_API_KEY`` and ``$DASHSCOPE_WEBSOCKET_BASE_URL`` apply, and the endpoint
defaults to the SDK's (Beijing). Signatures and semantics follow the SDK
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
* **Backpressure:** ``send_audio_frame`` and ``call()`` wait for the socket to take each
  frame instead of filling an unbounded queue; ``call()`` checks the file against
  ``format`` / ``sample_rate`` before connecting.
* **Defined delays:** the delay getters return -1.0 (:data:`NOT_MEASURED`) when nothing was
  measured, never garbage.

Not reproduced: the SDK's 23 s client-side silence timer (the service reports a silent
client itself, as ``CLIENT_ERROR`` through ``on_error``).
"""

from __future__ import annotations

from ..audio.probe import InputDataRequired
from ._dispatch import CALLBACK_THREAD_NAME as CALLBACK_THREAD_NAME
from ._loop import LOOP_THREAD_NAME as LOOP_THREAD_NAME
from .errors import InvalidParameter
from .recognition import NOT_MEASURED as NOT_MEASURED
from .recognition import Recognition
from .result import RecognitionCallback, RecognitionResult

#: The API key; None means ``$DASHSCOPE_API_KEY``. Read when a task starts.
api_key: str | None = None
#: The WebSocket endpoint; None means ``$DASHSCOPE_WEBSOCKET_BASE_URL``, else the SDK's default.
base_websocket_api_url: str | None = None

# What ``from funasr_realtime.compat import *`` brings, as ``from dashscope.audio.asr import *`` does.
# The constants above (thread names, NOT_MEASURED) are importable by name but not star-exported.
__all__ = [
    "InputDataRequired",
    "InvalidParameter",
    "Recognition",
    "RecognitionCallback",
    "RecognitionResult",
]
