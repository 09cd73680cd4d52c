"""Time bounds for tests, scaled by one environment variable.

This is websockets' ``MS`` idea: every time bound a test asserts or waits for is written for an idle
machine and multiplied by ``FUNASR_TEST_MS``, so CI running beside a CPU hog sets ``FUNASR_TEST_MS=3``
instead of each test growing its own slack.
"""

import os

MS = float(os.environ.get("FUNASR_TEST_MS", "1"))


def scaled(seconds: float) -> float:
    """Return ``seconds`` multiplied by ``FUNASR_TEST_MS`` (default 1)."""
    return seconds * MS
